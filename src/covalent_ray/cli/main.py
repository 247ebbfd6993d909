"""``covalent-ray``: the command line. Each command lives in the module of its topic
and stays thin: it parses options, calls the library, prints."""

from __future__ import annotations

import typer

from . import dispatch_cmds, service_cmds, sql_cmds

app = typer.Typer(
    help="Covalent workflows on Ray, with results in DuckDB.",
    no_args_is_help=True,
    add_completion=False,
)
service_cmds.register(app)
dispatch_cmds.register(app)
sql_cmds.register(app)


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
