"""``/api/v1/triggers`` and ``/api/v1/dispatches/{id}/triggers``: the triggers registered
with the service, and one dispatch's triggers and lineage."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from .._deps import Backend, DispatchId
from .._models import DispatchTriggers, TriggerList, TriggerSummary
from .dispatches import NOT_FOUND, missing

router = APIRouter(tags=["triggers"])


@router.get("/triggers", response_model=TriggerList)
async def list_triggers(
    backend: Backend,
    state: Annotated[
        Literal["active", "stopped"] | None, Query(description="Only triggers in this state.")
    ] = None,
    dispatch_id: Annotated[
        str | None, Query(max_length=200, description="Only the triggers of this dispatch.")
    ] = None,
) -> TriggerList:
    """Registered triggers, oldest first: what each watches, its state and firings."""
    rows = await backend.triggers(state=state, dispatch_id=dispatch_id)
    return TriggerList(items=[TriggerSummary(**r) for r in rows])


@router.get(
    "/dispatches/{dispatch_id}/triggers", response_model=DispatchTriggers, responses=NOT_FOUND
)
async def dispatch_triggers(backend: Backend, dispatch_id: DispatchId) -> DispatchTriggers:
    """A dispatch's triggers, the runs they started, and the dispatch whose trigger started
    this one."""
    found = await backend.trigger_lineage(dispatch_id)
    if found is None:
        raise missing(dispatch_id)
    return DispatchTriggers(dispatch_id=dispatch_id, **found)
