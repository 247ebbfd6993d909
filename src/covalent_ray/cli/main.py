"""``covalent-ray``: start, inspect and stop the service; thin wrappers over
``runtime.service`` and the SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .._exceptions import CovalentRayError
from .._home import home_dir

app = typer.Typer(help="Covalent workflows on Ray, with results in DuckDB.",
                  no_args_is_help=True, add_completion=False)

HomeOpt = Annotated[Optional[Path], typer.Option(
    "--home", help="Home directory (default: $COVALENT_RAY_HOME or ~/.local/share/covalent_ray).",
    show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def _fail(exc: Exception) -> None:
    typer.secho(str(exc), fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _print(data: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
def start(
    home: HomeOpt = None,
    address: Annotated[Optional[str], typer.Option(
        help="Join this existing Ray cluster (host:port) instead of starting a local head.")] = None,
    num_cpus: Annotated[Optional[int], typer.Option(help="CPUs the local head offers.")] = None,
    num_gpus: Annotated[Optional[int], typer.Option(help="GPUs the local head offers.")] = None,
    resources: Annotated[Optional[str], typer.Option(
        help='Custom resources of the local head, as JSON: \'{"special": 1}\'.')] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start the service (a local Ray head unless --address is given)."""
    from ..runtime import service

    h = home_dir(home)
    options = service.HeadOptions(num_cpus=num_cpus, num_gpus=num_gpus,
                                  resources=json.loads(resources) if resources else None)
    try:
        info, already = service.start(h, address=address, head=options)
    except CovalentRayError as exc:
        _fail(exc)
        return
    data = {"home": str(h), "address": info.address, "already_running": already,
            "api_url": info.api_url}
    if as_json:
        _print(data, True)
    elif already:
        typer.echo(f"covalent-ray is already running (cluster {info.address}, home {h}).")
    else:
        typer.echo(f"covalent-ray started: cluster {info.address}, home {h}.")
        if info.api_url:
            typer.echo(f"Dashboard: {info.api_url}")


@app.command()
def stop(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Stop what `covalent-ray start` started (the Ray head only if it started it)."""
    from ..runtime import service
    from .._exceptions import ServiceNotRunningError

    h = home_dir(home)
    try:
        info = service.stop(h)
    except ServiceNotRunningError:
        if as_json:
            _print({"home": str(h), "stopped": False}, True)
        else:
            typer.echo(f"covalent-ray is not running (home {h}).")
        return
    if as_json:
        _print({"home": str(h), "stopped": True, "address": info.address}, True)
    else:
        what = "and its Ray head " if info.head_pid else "(the Ray cluster keeps running) "
        typer.echo(f"covalent-ray stopped {what}(home {h}).")


@app.command()
def status(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Show the cluster address, the actors, the database and dispatch counts."""
    from ..runtime import service
    from .._exceptions import ServiceNotRunningError

    h = home_dir(home)
    try:
        data = service.status(h)
    except ServiceNotRunningError as exc:
        if as_json:
            _print({"home": str(h), "running": False}, True)
        else:
            typer.echo(str(exc))
        raise typer.Exit(1)
    if as_json:
        _print(data, True)
        raise typer.Exit(0 if data["running"] else 1)
    typer.echo(f"Home:      {data['home']}")
    typer.echo(f"Cluster:   {data['address']} (namespace {data['namespace']}, auth {data['auth_mode']})")
    typer.echo(f"Database:  {data['database']}")
    if data.get("api_url"):
        typer.echo(f"Dashboard: {data['api_url']}")
    if not data["running"]:
        typer.echo("Service:   NOT answering (run `covalent-ray stop` then `covalent-ray start`)")
        raise typer.Exit(1)
    typer.echo(f"Ray nodes: {data['nodes']}")
    for name, state in data["actors"].items():
        typer.echo(f"Actor:     {name}: {state}")
    counts = data["dispatches"]
    typer.echo("Dispatches: " + (", ".join(f"{s} {n}" for s, n in counts.items()) or "none"))


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
