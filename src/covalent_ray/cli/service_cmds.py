"""`covalent-ray start | stop | restart | status | logs | purge`: thin wrappers over
``service.control``.

Exit codes: 0 done; 1 an error (or, for ``status``, the service is not answering);
2 bad usage.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from .._exceptions import CovalentRayError, ServiceNotRunningError
from .._home import home_dir
from ..client.connect import login_url
from ..service.options import DEFAULT_HOST, DEFAULT_PORT, ApiOptions
from .common import HomeOpt, JsonOpt, fail, print_json


def register(app: typer.Typer) -> None:
    """Add the service commands to ``app``."""
    app.command()(start)
    app.command()(stop)
    app.command()(restart)
    app.command()(status)
    app.command()(logs)
    app.command()(purge)


AddressOpt = Annotated[
    str | None,
    typer.Option(
        help="Join this existing Ray cluster (host:port) instead of starting a local head."
    ),
]
NumCpusOpt = Annotated[int | None, typer.Option(min=0, help="CPUs the local head offers.")]
NumGpusOpt = Annotated[int | None, typer.Option(min=0, help="GPUs the local head offers.")]
ResourcesOpt = Annotated[
    str | None,
    typer.Option(help="Custom resources of the local head, as JSON: '{\"special\": 1}'."),
]
HostOpt = Annotated[
    str,
    typer.Option(
        envvar="COVALENT_RAY_API_HOST",
        help="Address of the dashboard and REST API; anything but loopback needs --api-token.",
    ),
]
PortOpt = Annotated[
    int,
    typer.Option(
        envvar="COVALENT_RAY_API_PORT", help="Port of the dashboard and REST API (0: any free one)."
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        envvar="COVALENT_RAY_API_TOKEN",
        show_default=False,
        help="Require this token (Authorization: Bearer) on the REST API and dashboard "
        "(default: a new random one at each start, kept in <home>/api_token).",
    ),
]
NoTokenOpt = Annotated[
    bool,
    typer.Option(
        "--no-api-token",
        help="UNSAFE on a shared machine: serve the REST API and dashboard without a token, "
        "so every local user can read, cancel, delete and redispatch every workflow "
        "(loopback only).",
    ),
]
MaxBodyOpt = Annotated[
    int | None,
    typer.Option(
        envvar="COVALENT_RAY_API_MAX_BODY_BYTES",
        show_default=False,
        help="Refuse REST request bodies larger than this (413); default 4 MiB.",
    ),
]


def start(
    home: HomeOpt = None,
    address: AddressOpt = None,
    num_cpus: NumCpusOpt = None,
    num_gpus: NumGpusOpt = None,
    resources: ResourcesOpt = None,
    host: HostOpt = DEFAULT_HOST,
    port: PortOpt = DEFAULT_PORT,
    api_token: TokenOpt = None,
    no_api_token: NoTokenOpt = False,
    max_body_bytes: MaxBodyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start the service (a local Ray head unless --address is given) and its dashboard."""
    from ..service import control as service

    h = home_dir(home)
    options = service.HeadOptions(
        num_cpus=num_cpus, num_gpus=num_gpus, resources=_resources(resources)
    )
    if address:
        _check_reachable(address)
    try:
        info, already = service.start(
            h,
            address=address,
            head=options,
            api=ApiOptions(
                host=host,
                port=port,
                token=api_token,
                max_body_bytes=max_body_bytes,
                no_token=no_api_token,
            ),
        )
    except CovalentRayError as exc:
        fail(exc)
    data = {
        "home": str(h),
        "address": info.address,
        "already_running": already,
        "api_url": info.api_url,
        "login_url": (link := login_url(h)),
    }
    if as_json:
        print_json(data)
    else:
        if already:
            typer.echo(f"covalent-ray is already running (cluster {info.address}, home {h}).")
        else:
            typer.echo(f"covalent-ray started: cluster {info.address}, home {h}.")
        _echo_dashboard(link, info.api_auth)


def _resources(text: str | None) -> dict[str, float] | None:
    """``--resources``: a JSON object of resource names and amounts, else exit 2."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value.values()
    ):
        fail(
            f"--resources {text!r} is not a JSON object of resource names and amounts: "
            "write it as '{\"special\": 1}'",
            2,
        )
    return value


def _check_reachable(address: str) -> None:
    """Fail at once, rather than after the service's start timeout, when nothing listens
    at ``--address HOST:PORT`` (other forms, such as ``auto``, are left to Ray)."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            return
    except ConnectionRefusedError:
        fail(
            f"nothing listens at {address}: start the Ray head there first (`ray start --head`) "
            "or check --address"
        )
    except OSError:  # unreachable or slow to answer: Ray's own error will say more
        return


def restart(
    home: HomeOpt = None,
    address: AddressOpt = None,
    num_cpus: NumCpusOpt = None,
    num_gpus: NumGpusOpt = None,
    resources: ResourcesOpt = None,
    host: HostOpt = DEFAULT_HOST,
    port: PortOpt = DEFAULT_PORT,
    api_token: TokenOpt = None,
    no_api_token: NoTokenOpt = False,
    max_body_bytes: MaxBodyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop the service if it runs, then start it again.

    Dispatches that were running resume where they were."""
    from ..service import control as service

    _resources(resources)  # bad usage stops nothing
    if address:
        _check_reachable(address)
    try:
        service.stop(home_dir(home))
    except ServiceNotRunningError:
        pass
    start(
        home=home,
        address=address,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        resources=resources,
        host=host,
        port=port,
        api_token=api_token,
        no_api_token=no_api_token,
        max_body_bytes=max_body_bytes,
        as_json=as_json,
    )


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
    _echo_dashboard(data.get("login_url"), data.get("api_auth"))
    if not data["running"]:
        typer.echo("Service:   NOT answering (run `covalent-ray stop` then `covalent-ray start`)")
        raise typer.Exit(1)
    typer.echo(f"Ray nodes: {data['nodes']}")
    for name, state in data["actors"].items():
        typer.echo(f"Actor:     {name}: {state}")
    counts = data["dispatches"]
    typer.echo("Dispatches: " + (", ".join(f"{s} {n}" for s, n in counts.items()) or "none"))
    for a in data.get("adaptors") or []:
        typer.echo(f"Executor:  {adaptor_line(a)}")
    from ..core.triggers import trigger_line

    for t in data.get("triggers") or []:
        typer.echo(f"Trigger:   {trigger_line(t)}")


def logs(
    home: HomeOpt = None,
    lines: Annotated[
        int, typer.Option("--lines", "-n", min=0, help="Show the last N lines (0: all).")
    ] = 200,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing lines as they are written.")
    ] = False,
) -> None:
    """Print the service's log (<home>/logs/service.log), or follow it with -f."""
    from ..service.logs import follow as follow_log
    from ..service.logs import service_log, tail

    path = service_log(home_dir(home))
    if not path.exists():
        fail(f"no service log at {path}: the service of this home has not run yet", code=1)
    text, offset = tail(path, lines)
    typer.echo(text, nl=False)
    if follow:
        try:
            for text in follow_log(path, offset):
                typer.echo(text, nl=False)
        except KeyboardInterrupt:
            pass


def purge(
    home: HomeOpt = None,
    hard: Annotated[
        bool,
        typer.Option(
            "--hard", "-H", help="Also delete the database and stored objects (every result)."
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Stop the service and delete the home's logs, work directories, config and caches.

    Asks first (-y does not). With --hard, every result too, as Covalent's `covalent purge`."""
    from ..service import control as service
    from ..service.logs import purge_plan, remove

    h = home_dir(home)
    doomed = purge_plan(h, hard=hard)
    if not doomed:
        if as_json:
            print_json({"home": str(h), "removed": []})
        else:
            typer.echo(f"Nothing to purge in {h}.")
        return
    if not yes:
        # with --json the question goes to standard error: standard output stays JSON
        typer.echo(f"This stops covalent-ray (home {h}) and deletes:", err=as_json)
        for p in doomed:
            typer.echo(f"  {p}", err=as_json)
        if not typer.confirm("Continue?", default=False, err=as_json):
            typer.echo("Nothing was changed.", err=as_json)
            raise typer.Exit(1)
    try:
        service.stop(h)
    except ServiceNotRunningError:
        pass
    except CovalentRayError as exc:
        fail(f"{exc} (nothing was deleted)")
    removed = remove(doomed)
    if as_json:
        print_json({"home": str(h), "removed": [str(p) for p in removed]})
    else:
        typer.echo(f"Purged {len(removed)} item(s) from {h}.")


def _echo_dashboard(link: str | None, auth: str | None) -> None:
    """The dashboard's login link (it carries the API token: it is for this user only)."""
    if not link:
        return
    typer.echo(f"Dashboard: {link}")
    if auth == "none":
        typer.echo(
            "WARNING:   the REST API and dashboard need no token (--no-api-token): every "
            "local user can read and control every workflow."
        )


def adaptor_line(adaptor: dict[str, Any]) -> str:
    """``ssh root@127.0.0.1:2222 (3 running)``: one executor adaptor of ``status``."""
    name = adaptor.get("short_name") or adaptor.get("executor") or "?"
    host = f" {adaptor['remote_host']}" if adaptor.get("remote_host") else ""
    return f"{name}{host} ({adaptor.get('running', 0)} running)"
