"""``/api/v1/triggers``: the triggers registered with the service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from .._deps import Backend
from .._models import TriggerList, TriggerSummary

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
