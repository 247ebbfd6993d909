"""`covalent-ray cancel | result`: act on one dispatch through the SDK."""

from __future__ import annotations

from typing import Annotated

import typer

from .._exceptions import CovalentRayError
from .common import HomeOpt, JsonOpt, fail, print_json


def register(app: typer.Typer) -> None:
    """Add the dispatch commands to ``app``."""
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


def result(
    dispatch_id: Annotated[str, typer.Argument(help="The dispatch to show.")],
    wait: Annotated[bool, typer.Option(help="Wait until the dispatch has ended.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a dispatch's status, result or error."""
    from ..sdk.dispatch import get_result

    try:
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
