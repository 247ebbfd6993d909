"""Dispatching lattices and reading their results back (Covalent's client functions)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from .._exceptions import MissingDispatchError
from .lattice import Lattice
from .notebook import DispatchId
from .result import Result


def _connection(home: str | os.PathLike[str] | None = None) -> Any:
    from ..client.connect import connect

    return connect(home)


def _as_lattice(obj: Any) -> Lattice:
    if isinstance(obj, Lattice):
        return obj
    raise TypeError(
        f"ct.dispatch expects a lattice (a function decorated with @ct.lattice), got "
        f"{type(obj).__name__}: {obj!r}"
    )


def dispatch(
    lattice: Any,
    dispatcher_addr: str | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    disable_run: bool = False,
) -> Callable[..., str]:
    """``ct.dispatch(lattice)(*args, **kwargs)`` starts a dispatch and returns its ID.

    The lattice body runs here to build the graph (so its errors raise here); the graph is
    then handed to the service, and the returned ID is durable: this process may exit.

    With ``disable_run=True`` the dispatch is only registered (status ``NEW_OBJECT``): its
    triggers, or ``ct.triggers``' ``trigger()``, start it. A lattice with ``triggers=``
    implies it, as in Covalent: the triggers are registered with the service and their
    first firing runs the dispatch, each later one runs it again as a new dispatch.
    """
    lat = _as_lattice(lattice)
    triggers = list(lat.triggers or ())
    pending = bool(disable_run or triggers)

    @functools.wraps(lat.workflow_function)
    def submit(*args: Any, **kwargs: Any) -> str:
        from ..client.connect import call

        manifest = lat.manifest(args, kwargs)  # its dispatch ID is made here, once
        # one call: the dispatcher registers and launches; a retry after a restart finds
        # the dispatch by its ID instead of creating it again
        call(
            lambda conn, retrying: conn.dispatcher.submit.remote(
                manifest, retry=retrying, pending=pending
            ),
            f"dispatching lattice {lat.name!r} as dispatch {manifest.dispatch_id}",
            home=home,
        )
        if triggers:
            from .triggers import register_triggers

            register_triggers(triggers, manifest.dispatch_id, home=home)
        return DispatchId.of(manifest.dispatch_id, home)

    return submit


def dispatch_sync(
    lattice: Any, dispatcher_addr: str | None = None, *, home: str | os.PathLike[str] | None = None
) -> Callable[..., Result]:
    """Like :func:`dispatch`, but wait for the dispatch to end and return its Result."""
    start = dispatch(lattice, dispatcher_addr, home=home)

    @functools.wraps(_as_lattice(lattice).workflow_function)
    def run(*args: Any, **kwargs: Any) -> Result:
        return get_result(start(*args, **kwargs), wait=True, home=home)

    return run


def get_result(
    dispatch_id: str,
    wait: bool = False,
    dispatcher_addr: str | None = None,
    status_only: bool = False,
    *,
    results_dir: str | None = None,
    workflow_output: bool = True,
    intermediate_outputs: bool = True,
    sublattice_results: bool = True,
    timeout: float | None = None,
    home: str | os.PathLike[str] | None = None,
) -> Any:
    """The Result of a dispatch; with ``wait=True``, once the dispatch has ended.

    Waiting is push-based: the result manager answers the moment the dispatch's end is
    committed. An unknown ID raises :class:`MissingDispatchError`.
    """
    from ..client.connect import call

    if status_only:
        status = call(
            lambda conn, _: (
                conn.result_manager.wait.remote(dispatch_id, timeout)
                if wait
                else conn.result_manager.status.remote(dispatch_id)
            ),
            f"reading the status of dispatch {dispatch_id}",
            home=home,
        )
        if status is None:
            raise MissingDispatchError(_missing(dispatch_id))
        return {"id": dispatch_id, "status": status}
    record = call(
        lambda conn, _: conn.result_manager.get_result.remote(
            dispatch_id, wait, timeout, intermediate_outputs
        ),
        f"reading the result of dispatch {dispatch_id}",
        home=home,
    )
    return _result(
        dispatch_id,
        record,
        home=home,
        workflow_output=workflow_output,
        intermediate_outputs=intermediate_outputs,
        sublattice_results=sublattice_results,
    )


def _result(
    dispatch_id: str,
    record: dict[str, Any] | None,
    *,
    home: str | os.PathLike[str] | None,
    workflow_output: bool = True,
    intermediate_outputs: bool = True,
    sublattice_results: bool = True,
) -> Result:
    """A Result from what the result manager returned (None: unknown dispatch)."""
    from ..client.connect import call

    if record is None:
        raise MissingDispatchError(_missing(dispatch_id))

    def child(sub_id: str) -> Result | None:
        if not sublattice_results:
            return None
        try:
            return get_result(
                sub_id,
                home=home,
                workflow_output=workflow_output,
                intermediate_outputs=intermediate_outputs,
            )
        except MissingDispatchError:
            return None

    def edges() -> list[dict[str, Any]]:
        return list(
            call(
                lambda conn, _: conn.result_manager.edges.remote(dispatch_id),
                f"reading the graph of {dispatch_id}",
                home=home,
            )
        )

    def blobs(keys: list[str]) -> dict[str, bytes]:
        return dict(
            call(
                lambda conn, _: conn.result_manager.get_blobs.remote(keys),
                f"reading the graph of {dispatch_id}",
                home=home,
            )
        )

    return Result(
        record,
        workflow_output=workflow_output,
        intermediate_outputs=intermediate_outputs,
        fetch_child=child,
        fetch_edges=edges,
        home=home,
        fetch_blobs=blobs,
    )


def cancel(
    dispatch_id: str,
    task_ids: list[int] | int | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Cancel a running dispatch, or only the electrons ``task_ids`` and their dependants.

    Electrons not started never start; running ones are stopped (their Ray tasks killed);
    sublattices are cancelled with their parent. Returns the electrons marked CANCELLED.
    Cancelling an unknown or finished dispatch raises :class:`CancelError` and changes
    nothing.
    """
    from ..client.connect import call

    ids = [task_ids] if isinstance(task_ids, int) else task_ids
    return dict(
        call(
            lambda conn, retrying: conn.dispatcher.cancel.remote(dispatch_id, ids, retry=retrying),
            f"cancelling dispatch {dispatch_id}",
            home=home,
        )
    )


def redispatch(
    dispatch_id: str,
    replace_electrons: dict[str, Any] | None = None,
    reuse_previous_results: bool = False,
    *,
    home: str | os.PathLike[str] | None = None,
) -> Callable[..., str]:
    """``ct.redispatch(id, ...)(*new_args, **new_kwargs)`` runs a stored dispatch again.

    Without new arguments the original ones are used. ``replace_electrons`` maps electron
    names to electrons that run instead. With ``reuse_previous_results``, electrons whose
    code and inputs are unchanged reuse their stored outputs instead of running.
    Returns the new dispatch's ID.
    """

    def submit(*args: Any, **kwargs: Any) -> str:
        from ..client.connect import call

        previous = get_result(dispatch_id, home=home, intermediate_outputs=False)
        lat = previous.lattice
        if lat is None:
            raise MissingDispatchError(
                f"dispatch {dispatch_id} has no stored lattice to redispatch."
            )
        if not args and not kwargs:
            inputs = previous.inputs
            args, kwargs = tuple(inputs.get("args", ())), dict(inputs.get("kwargs", {}))
        from .electron import Electron

        replacements = {
            name: e if isinstance(e, Electron) else Electron(e)
            for name, e in (replace_electrons or {}).items()
        }
        manifest = lat.manifest(tuple(args), kwargs, replacements=replacements)
        reuse_from = dispatch_id if reuse_previous_results else None
        call(
            lambda conn, retrying: conn.dispatcher.submit.remote(
                manifest, reuse_from=reuse_from, retry=retrying
            ),
            f"redispatching {dispatch_id} as dispatch {manifest.dispatch_id}",
            home=home,
        )
        return DispatchId.of(manifest.dispatch_id, home)

    return submit


def delete(
    dispatch_ids: list[str] | str, *, home: str | os.PathLike[str] | None = None
) -> list[str]:
    """Delete ended dispatches (with their sublattices' dispatches and the stored objects
    nothing else uses); returns the IDs removed. Unknown IDs raise
    :class:`MissingDispatchError`; running ones :class:`DispatchNotFinishedError`, and
    nothing is deleted."""
    from .._exceptions import DispatchNotFinishedError
    from ..client.connect import get

    ids = [dispatch_ids] if isinstance(dispatch_ids, str) else list(dispatch_ids)
    rm = _connection(home).result_manager
    done = get(rm.delete.remote(ids), "deleting dispatches")
    if done["missing"]:
        raise MissingDispatchError(_missing(done["missing"][0]))
    if done["running"]:
        raise DispatchNotFinishedError(
            f"dispatches {', '.join(done['running'])} are still running; nothing was deleted. "
            "Cancel them first."
        )
    return list(done["deleted"])


def _missing(dispatch_id: str) -> str:
    return (
        f"no dispatch with ID {dispatch_id!r} is stored. Check the ID (`covalent-ray "
        "status` counts the stored dispatches) and that you use the same home directory."
    )
