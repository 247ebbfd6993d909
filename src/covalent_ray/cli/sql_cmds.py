"""`covalent-ray sql | export`: SQL over the result views, and the views as Parquet files.

Thin wrappers over ``ct.sql`` and ``sdk.sql.export``. A refused query exits with code 2,
a failed one with 1, both with the reason on standard error.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime
from typing import Annotated, Any

import typer

from .._exceptions import CovalentRayError, QueryRejectedError
from .common import HomeOpt, JsonOpt, fail, print_json


def register(app: typer.Typer) -> None:
    """Add the SQL commands to ``app``."""
    app.command(name="sql")(sql_command)
    app.command(name="export")(export_command)


def sql_command(
    query: Annotated[
        str | None,
        typer.Argument(
            help="One SELECT over the result views (see --schema) "
            "('-' reads it from standard input).",
            show_default=False,
        ),
    ] = None,
    params: Annotated[
        str | None,
        typer.Option(
            "--params",
            help="Placeholder values as JSON: a list for ? and $1 ('[0.1, \"x\"]'), "
            "an object for $name.",
            show_default=False,
        ),
    ] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")] = False,
    max_rows: Annotated[
        int | None,
        typer.Option(help="Return at most this many rows (default 10000).", show_default=False),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Interrupt the query after this many seconds (default 30).", show_default=False
        ),
    ] = None,
    show_schema: Annotated[
        bool,
        typer.Option(
            "--schema", help="List the views and their columns instead of running a query."
        ),
    ] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a read-only SQL query over every stored dispatch and electron."""
    if as_json and as_csv:
        fail("choose one of --json and --csv.", code=2)
    if show_schema:
        _print_schema(as_json)
        return
    if query is None:
        fail(
            'give a query, e.g. covalent-ray sql "SELECT status, count(*) FROM '
            'dispatches GROUP BY status" (or --schema to list the views).',
            code=2,
        )
    if query == "-":
        query = sys.stdin.read()
    values: Any = None
    if params is not None:
        try:
            values = json.loads(params)
        except json.JSONDecodeError as exc:
            fail(f"--params is not valid JSON ({exc}); e.g. --params '[0.1, \"x\"]'.", code=2)
        if not isinstance(values, (list, dict)):
            fail("--params must be a JSON list or object.", code=2)
    import warnings

    from ..sdk.sql import sql

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # truncation is reported below instead
            rows = sql(query, values, max_rows=max_rows, timeout=timeout, home=home)
    except QueryRejectedError as exc:
        fail(f"query refused: {exc}", code=2)
    except CovalentRayError as exc:
        fail(exc)
    if as_json:
        _print_json_rows(rows)
    elif as_csv:
        _print_csv(rows)
    else:
        _print_table(rows)
    if rows.truncated and not as_json:
        typer.secho(
            f"(truncated: more rows matched than the "
            f"{'size bound' if rows.truncated == 'bytes' else 'row bound'}; "
            "pass --max-rows or aggregate)",
            err=True,
            fg=typer.colors.YELLOW,
        )


def _cell(value: Any, is_json: bool = False) -> str:
    if value is None:
        return ""
    if is_json:  # ct.sql gives JSON columns as Python objects: print them as JSON
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _print_table(rows: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", show_lines=False)
    for column in rows.columns:
        table.add_column(column, overflow="fold")
    json_columns = _json_columns(rows)
    for row in rows:
        table.add_row(
            *("NULL" if row[c] is None else _cell(row[c], c in json_columns) for c in rows.columns)
        )
    console = Console()
    console.print(table)
    console.print(
        f"{len(rows)} row{'s' if len(rows) != 1 else ''} ({rows.elapsed_s * 1000:.1f} ms)",
        style="dim",
    )


def _print_csv(rows: Any) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(rows.columns)
    json_columns = _json_columns(rows)
    for row in rows:
        writer.writerow([_cell(row[c], c in json_columns) for c in rows.columns])


def _json_columns(rows: Any) -> set[str]:
    return {c for c, t in zip(rows.columns, rows.types) if t == "JSON"}


def _print_json_rows(rows: Any) -> None:
    # JSON columns go out as JSON (ct.sql parsed them), not as strings holding JSON
    print_json(
        {
            "columns": rows.columns,
            "types": rows.types,
            "rows": [dict(r) for r in rows],
            "truncated": rows.truncated,
        }
    )


def _print_schema(as_json: bool) -> None:
    from ..storage.sql import schema

    views = schema()
    if as_json:
        print_json(views)
        return
    for view in views:
        typer.secho(f"{view['name']}: {view['doc']}", bold=True)
        for c in view["columns"]:
            typer.echo(f"  {c['name']:<20} {c['type']:<10} {c['doc']}")
        typer.echo("")


def export_command(
    directory: Annotated[str, typer.Argument(help="Where to write <view>.parquet files.")],
    views: Annotated[
        list[str] | None,
        typer.Option(
            "--view",
            help="Export only this view (repeatable; default: every view).",
            show_default=False,
        ),
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the result views as Parquet files (for pandas, Polars or another DuckDB)."""
    import pyarrow.parquet as pq

    from ..sdk.sql import export

    try:
        written = export(directory, views, home=home)
    except CovalentRayError as exc:
        fail(exc)
    except OSError as exc:
        fail(
            f"cannot write the Parquet files into {directory}: {exc.strerror or exc}; "
            "give a directory (new or existing) you can write to"
        )
    counts = {view: pq.read_metadata(path).num_rows for view, path in written.items()}
    if as_json:
        print_json(
            {view: {"path": str(path), "rows": counts[view]} for view, path in written.items()}
        )
        return
    for view, path in written.items():
        typer.echo(f"{path}  ({counts[view]} rows)")
