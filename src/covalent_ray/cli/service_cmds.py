"""`covalent-ray start | stop | status`: thin wrappers over ``service.control``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .._exceptions import CovalentRayError, ServiceNotRunningError
from .._home import home_dir
from ..service.options import DEFAULT_HOST, DEFAULT_PORT, ApiOptions
from .common import HomeOpt, JsonOpt, fail, print_json


def register(app: typer.Typer) -> None:
    """Add the service commands to ``app``."""
    app.command()(start)
    app.command()(stop)
    app.command()(status)


def start(
    home: HomeOpt = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Join this existing Ray cluster (host:port) instead of starting a local head."
        ),
    ] = None,
    num_cpus: Annotated[int | None, typer.Option(help="CPUs the local head offers.")] = None,
    num_gpus: Annotated[int | None, typer.Option(help="GPUs the local head offers.")] = None,
    resources: Annotated[
        str | None,
        typer.Option(help="Custom resources of the local head, as JSON: '{\"special\": 1}'."),
    ] = None,
    host: Annotated[
        str,
        typer.Option(
            envvar="COVALENT_RAY_API_HOST",
            help="Address of the dashboard and REST API; anything but loopback needs --api-token.",
        ),
    ] = DEFAULT_HOST,
    port: Annotated[
        int,
        typer.Option(
            envvar="COVALENT_RAY_API_PORT",
            help="Port of the dashboard and REST API (0: any free one).",
        ),
    ] = DEFAULT_PORT,
    api_token: Annotated[
        str | None,
        typer.Option(
            envvar="COVALENT_RAY_API_TOKEN",
            show_default=False,
            help="Require this token (Authorization: Bearer) on the REST API.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start the service (a local Ray head unless --address is given) and its dashboard."""
    from ..service import control as service

    h = home_dir(home)
    options = service.HeadOptions(
        num_cpus=num_cpus, num_gpus=num_gpus, resources=json.loads(resources) if resources else None
    )
    try:
        info, already = service.start(
            h, address=address, head=options, api=ApiOptions(host=host, port=port, token=api_token)
        )
    except CovalentRayError as exc:
        fail(exc)
    data = {
        "home": str(h),
        "address": info.address,
        "already_running": already,
        "api_url": info.api_url,
    }
    if as_json:
        print_json(data)
    else:
        if already:
            typer.echo(f"covalent-ray is already running (cluster {info.address}, home {h}).")
        else:
            typer.echo(f"covalent-ray started: cluster {info.address}, home {h}.")
        if info.api_url:
            typer.echo(f"Dashboard: {info.api_url}")


def stop(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Stop what `covalent-ray start` started (the Ray head only if it started it)."""
    from ..service import control as service

    h = home_dir(home)
    try:
        info = service.stop(h)
    except ServiceNotRunningError:
        if as_json:
            print_json({"home": str(h), "stopped": False})
        else:
            typer.echo(f"covalent-ray is not running (home {h}).")
        return
    if as_json:
        print_json({"home": str(h), "stopped": True, "address": info.address})
    else:
        what = "and its Ray head " if info.head_pid else "(the Ray cluster keeps running) "
        typer.echo(f"covalent-ray stopped {what}(home {h}).")


def status(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Show the cluster address, the actors, the database and dispatch counts."""
    from ..service import control as service

    h = home_dir(home)
    try:
        data = service.status(h)
    except ServiceNotRunningError as exc:
        if as_json:
            print_json({"home": str(h), "running": False})
        else:
            typer.echo(str(exc))
        raise typer.Exit(1) from None
    if as_json:
        print_json(data)
        raise typer.Exit(0 if data["running"] else 1)
    typer.echo(f"Home:      {data['home']}")
    typer.echo(
        f"Cluster:   {data['address']} (namespace {data['namespace']}, auth {data['auth_mode']})"
    )
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
