"""`covalent-ray list | result | cancel | delete`: dispatches, through the SDK.

Exit codes: 0 done; 1 an error (the service is not running, an unknown dispatch, ...);
2 bad usage; 3 (``result`` only) the dispatch ended without completing.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from .._exceptions import CovalentRayError
from .._status import Status
from .common import HomeOpt, JsonOpt, fail, print_json

#: ``result``'s exit code for a dispatch that ended FAILED or CANCELLED
EXIT_NOT_COMPLETED = 3


def register(app: typer.Typer) -> None:
    """Add the dispatch commands to ``app``."""
    app.command(name="list")(list_command)
    app.command()(cancel)
    app.command()(result)
    app.command()(delete)


def cancel(
    dispatch_id: Annotated[str, typer.Argument(help="The dispatch to cancel.")],
    task_id: Annotated[
        list[int] | None,
        typer.Option(
            "--task-id", help="Cancel only this electron (and its dependants); repeatable."
        ),
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a running dispatch (or some of its electrons)."""
    from ..sdk.dispatch import cancel as sdk_cancel

    try:
        done = sdk_cancel(dispatch_id, task_id or None, home=home)
    except CovalentRayError as exc:
        fail(exc)
    if as_json:
        print_json(done)
    else:
        typer.echo(
            f"Cancelled dispatch {dispatch_id}"
            + (f" (electrons {done['cancelled']})" if done["cancelled"] else "")
            + "."
        )


def list_command(
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            "-s",
            help="Only dispatches in this status (repeatable).",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", "-n", help="Only lattices whose name contains this."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only dispatches created since then: 30m, 2h, 7d or an ISO date/time (UTC).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 20,
    all_levels: Annotated[
        bool, typer.Option("--all", help="Include sublattice dispatches, not only top-level.")
    ] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List recent dispatches, newest first."""
    from ..sdk.history import list_dispatches

    known = [s.value for s in Status]
    for wanted in status or ():
        if wanted.upper() not in known:
            fail(f"unknown status {wanted!r}: use one of {', '.join(known)}", code=2)
    try:
        rows = list_dispatches(
            status=status, name=name, since=since, limit=limit, root_only=not all_levels, home=home
        )
    except ValueError as exc:  # a status or time that does not parse
        fail(f"{exc}", code=2)
    except CovalentRayError as exc:
        fail(exc)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("No dispatches match." if (status or name or since) else "No dispatches yet.")
        return
    _print_table(rows)


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("Dispatch ID", "Name", "Status", "Created (UTC)", "Runtime", "Electrons"):
        table.add_column(column, no_wrap=column != "Name")
    colours = {"COMPLETED": "green", "FAILED": "red", "CANCELLED": "yellow", "RUNNING": "cyan"}
    for r in rows:
        counts = r.get("electron_counts") or {}
        done = counts.get("COMPLETED", 0)
        total = sum(counts.values())
        table.add_row(
            r["dispatch_id"],
            r.get("name") or "",
            f"[{colours.get(r['status'], 'white')}]{r['status']}[/]",
            _when(r.get("created_at")),
            _runtime(r.get("start_time"), r.get("end_time")),
            f"{done}/{total}",
        )
    # piped output keeps whole lines (a terminal's width would cut the ids)
    Console(width=None if sys.stdout.isatty() else 240).print(table)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value or "")


def _runtime(start: Any, end: Any) -> str:
    if not isinstance(start, datetime):
        return ""
    stop = end if isinstance(end, datetime) else datetime.now(UTC).replace(tzinfo=None)
    seconds = max((stop - start).total_seconds(), 0.0)
    text = f"{seconds:.2f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"
    return text if end else f"{text} (running)"


def result(
    dispatch_id: Annotated[str, typer.Argument(help="The dispatch to show.")],
    wait: Annotated[bool, typer.Option(help="Wait until the dispatch has ended.")] = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            help="While waiting, show the electrons done on standard error "
            "(default: when it is a terminal).",
            show_default=False,
        ),
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a dispatch's status, result or error; with --wait, once it has ended.

    Exits 3 when the dispatch ended without completing (FAILED, CANCELLED)."""
    from ..sdk.dispatch import get_result

    try:
        if wait and (progress if progress is not None else sys.stderr.isatty()):
            _follow(dispatch_id, home)
        res = get_result(dispatch_id, wait=wait, home=home, intermediate_outputs=False)
    except CovalentRayError as exc:
        fail(exc)
    if as_json:
        print_json(
            {
                "dispatch_id": res.dispatch_id,
                "status": res.status.value,
                "result": res.encoded_result.object_string,
                "error": res.error,
                "start_time": res.start_time,
                "end_time": res.end_time,
            }
        )
    else:
        typer.echo(str(res))
    if res.status.is_terminal and res.status != Status.COMPLETED:
        raise typer.Exit(EXIT_NOT_COMPLETED)


def _follow(dispatch_id: str, home: Any) -> None:
    """A progress bar of the dispatch's electrons on standard error until it ends, fed
    by the change feed (it moves when something changes, and never polls)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..sdk.history import watch

    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
    )
    short = dispatch_id[:8]  # the whole ID is printed with the result
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(short, total=None, counts="")
        for step in watch(dispatch_id, home=home):
            bar.update(task, completed=step.finished, total=step.total, counts=_counts(step.counts))
        bar.update(task, description=f"{short} {step.status.value}")


#: how ``result --wait`` groups electron statuses, in the order it shows them
_SHOWN = {
    "completed": {Status.COMPLETED},
    "failed": {Status.FAILED, Status.POSTPROCESSING_FAILED},
    "cancelled": {Status.CANCELLED},
    "running": {Status.STARTING, Status.RUNNING, Status.DISPATCHING, Status.POSTPROCESSING},
    "waiting": {Status.NEW_OBJECT, Status.PENDING_REUSE},
}


def _counts(counts: dict[str, int]) -> str:
    """``"6 completed · 2 running · 4 waiting"``"""
    parts = []
    for label, statuses in _SHOWN.items():
        n = sum(counts.get(s.value, 0) for s in statuses)
        if n:
            parts.append(f"{n} {label}")
    return " · ".join(parts)


def delete(
    dispatch_ids: Annotated[list[str], typer.Argument(help="Ended dispatches to delete.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete ended dispatches with their sublattices and stored objects."""
    from ..sdk.dispatch import delete as sdk_delete

    try:
        deleted = sdk_delete(dispatch_ids, home=home)
    except CovalentRayError as exc:
        fail(exc)
    if as_json:
        print_json({"deleted": deleted})
    else:
        typer.echo(f"Deleted {len(deleted)} dispatch(es): {', '.join(deleted)}")
