"""Option types and output helpers shared by the command modules."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Home directory (default: $COVALENT_RAY_HOME or ~/.local/share/covalent_ray).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def fail(exc: Exception | str, code: int = 1) -> NoReturn:
    """Print an error on stderr and exit."""
    typer.secho(str(exc), fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _json_value(value: Any) -> Any:
    """What JSON cannot hold as it is: times as ISO 8601 in UTC with a ``Z`` (the store's
    times are UTC without a zone, as the REST API writes them), bytes as hex."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON."""
    typer.echo(json.dumps(data, indent=2, default=_json_value))
