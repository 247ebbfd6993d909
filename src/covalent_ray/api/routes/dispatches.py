"""``/api/v1/dispatches``: list, read, graph, cancel and redispatch dispatches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from ..._exceptions import DispatchNotFinishedError, MissingDispatchError
from ...core.compare import Side, compare
from ...core.graph_groups import group_graph
from .._deps import Backend, DispatchId
from .._models import (
    Cancelled,
    CancelRequest,
    CompareQuery,
    Comparison,
    Deleted,
    DispatchCreated,
    DispatchDetail,
    DispatchFilter,
    DispatchPage,
    DispatchSummary,
    ErrorBody,
    Graph,
    GraphQuery,
    RedispatchRequest,
    Timeline,
)

router = APIRouter(prefix="/dispatches", tags=["dispatches"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such dispatch."}
}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not JSON."}
}
# what a POST without a body asks for
CANCEL_ALL = CancelRequest(task_ids=None)
RUN_AGAIN = RedispatchRequest(reuse_previous_results=False)


def missing(dispatch_id: str) -> MissingDispatchError:
    """The 404 of an unknown dispatch ID."""
    return MissingDispatchError(
        f"no dispatch with ID {dispatch_id!r} is stored in this covalent-ray home. "
        "List the stored ones with GET /api/v1/dispatches."
    )


@router.get("", response_model=DispatchPage)
async def list_dispatches(
    backend: Backend, query: Annotated[DispatchFilter, Query()]
) -> DispatchPage:
    """Dispatches matching the filters, newest first unless sorted otherwise."""
    page = await backend.list_dispatches(
        status=list(query.status) or None,
        name=query.name or None,
        root_only=query.root_only,
        since=query.since,
        until=query.until,
        executor=query.executor or None,
        sort=query.sort,
        descending=query.order == "desc",
        limit=query.limit,
        offset=query.offset,
    )
    return DispatchPage(
        items=[DispatchSummary.from_row(r) for r in page["items"]],
        total=page["total"],
        limit=query.limit,
        offset=query.offset,
    )


@router.get("/{dispatch_id}", response_model=DispatchDetail, responses=NOT_FOUND)
async def get_dispatch(backend: Backend, dispatch_id: DispatchId) -> DispatchDetail:
    """One dispatch: status, times, inputs, result or error, electron counts, source,
    parent and child dispatches."""
    row = await backend.dispatch_summary(dispatch_id)
    if row is None:
        raise missing(dispatch_id)
    return DispatchDetail.from_row(row)


@router.get("/{dispatch_id}/graph", response_model=Graph, responses=NOT_FOUND)
async def get_graph(
    backend: Backend, dispatch_id: DispatchId, query: Annotated[GraphQuery, Query()]
) -> Graph:
    """The transport graph: nodes with name, kind, status, executor and times; edges
    with the parameter each carries. With ``group=auto``, a graph of more than
    ``threshold`` nodes comes with its repeated electrons aggregated into groups."""
    data = await backend.graph_view(dispatch_id)
    if data is None:
        raise missing(dispatch_id)
    if query.group == "none":
        return Graph.from_read(dispatch_id, data)
    grouped = group_graph(
        data["nodes"],
        data["edges"],
        mode=query.group,
        threshold=query.threshold,
        expanded=query.expand,
    )
    return Graph.from_grouped(dispatch_id, grouped)


@router.get("/{dispatch_id}/timeline", response_model=Timeline, responses=NOT_FOUND)
async def get_timeline(backend: Backend, dispatch_id: DispatchId) -> Timeline:
    """When and where each node ran: times, Ray node, worker process and every attempt
    (parameters left out), for a Gantt chart of the dispatch."""
    data = await backend.timeline(dispatch_id)
    if data is None:
        raise missing(dispatch_id)
    return Timeline.from_read(dispatch_id, data)


@router.get("/{dispatch_id}/compare/{other_id}", response_model=Comparison, responses=NOT_FOUND)
async def compare_dispatches(
    backend: Backend,
    dispatch_id: DispatchId,
    other_id: DispatchId,
    query: Annotated[CompareQuery, Query()],
) -> Comparison:
    """Two dispatches side by side (the first is the left, the baseline): inputs, result,
    each node's status on both sides, outputs that differ, and nodes that ran slower or
    faster. Nodes pair by name and occurrence, so a redispatch pairs node with node."""
    summaries = {}
    sides = {}
    for d in (dispatch_id, other_id):
        row = await backend.dispatch_summary(d)
        side = await backend.comparison_side(d)
        if row is None or side is None:
            raise missing(d)
        summaries[d], sides[d] = row, Side(side["dispatch"], side["nodes"])
    data = compare(sides[dispatch_id], sides[other_id])
    return Comparison.build(
        summaries[dispatch_id],
        summaries[other_id],
        data,
        differences_only=query.differences_only,
        limit=query.limit,
    )


@router.post(
    "/{dispatch_id}/cancel",
    response_model=Cancelled,
    responses={
        **NOT_FOUND,
        **BAD_BODY,
        409: {
            "model": ErrorBody,
            "description": "The dispatch has ended, or has no such running electron.",
        },
    },
)
async def cancel_dispatch(
    backend: Backend,
    dispatch_id: DispatchId,
    request: Annotated[CancelRequest, Body()] = CANCEL_ALL,
) -> Cancelled:
    """Cancel a running dispatch, or only some of its electrons and what depends on them
    (``ct.cancel``)."""
    if await backend.status(dispatch_id) is None:
        raise missing(dispatch_id)
    done = await backend.cancel(dispatch_id, request.task_ids)
    return Cancelled(dispatch_id=dispatch_id, cancelled=done.get("cancelled") or [])


@router.post(
    "/{dispatch_id}/redispatch",
    response_model=DispatchCreated,
    status_code=201,
    responses={
        **NOT_FOUND,
        **BAD_BODY,
        409: {
            "model": ErrorBody,
            "description": "The stored lattice cannot be run again by the server.",
        },
    },
)
async def redispatch_dispatch(
    backend: Backend,
    dispatch_id: DispatchId,
    request: Annotated[RedispatchRequest, Body()] = RUN_AGAIN,
) -> DispatchCreated:
    """Run a stored dispatch again with the same inputs, optionally reusing the outputs of
    unchanged electrons (``ct.redispatch``). Returns the new dispatch's ID."""
    if await backend.status(dispatch_id) is None:
        raise missing(dispatch_id)
    new_id = await backend.redispatch(dispatch_id, request.reuse_previous_results)
    return DispatchCreated(dispatch_id=new_id, redispatch_of=dispatch_id)


@router.delete(
    "/{dispatch_id}",
    response_model=Deleted,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorBody, "description": "The dispatch is still running."},
    },
)
async def delete_dispatch(backend: Backend, dispatch_id: DispatchId) -> Deleted:
    """Delete an ended dispatch, its sublattices' dispatches and the stored objects that
    nothing else uses."""
    done = await backend.delete([dispatch_id])
    if done["missing"]:
        raise missing(dispatch_id)
    if done["running"]:
        raise DispatchNotFinishedError(
            f"dispatch {dispatch_id} (or a sublattice of it: {', '.join(done['running'])}) "
            "is still running; cancel it first, then delete it."
        )
    return Deleted(deleted=done["deleted"])
