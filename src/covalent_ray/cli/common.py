"""Option types and output helpers shared by the command modules."""

from __future__ import annotations

import json
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


def print_json(data: Any) -> None:
    """Print ``data`` as JSON."""
    typer.echo(json.dumps(data, indent=2, default=str))
