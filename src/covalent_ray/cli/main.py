"""``covalent-ray``: the command line. Each command lives in the module of its topic
and stays thin: it parses options, calls the library, prints.

Exit codes, for every command: 0 done; 1 an error, printed as one line on standard error
saying what to do; 2 bad usage (options, values); ``result`` exits 3 for a dispatch that
ended without completing, ``sql`` 2 for a refused query.
"""

from __future__ import annotations

import typer

from .._exceptions import CovalentRayError
from . import config_cmds, dispatch_cmds, service_cmds, sql_cmds

app = typer.Typer(
    help="Covalent workflows on Ray, with results in DuckDB.",
    no_args_is_help=True,
    add_completion=False,
)
service_cmds.register(app)
dispatch_cmds.register(app)
sql_cmds.register(app)
config_cmds.register(app)


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    except CovalentRayError as exc:  # one the command did not expect: still one clear line
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
