"""``/api/v1/dispatches/{id}/electrons/{node_id}``: one node with its values and logs."""

from __future__ import annotations

from fastapi import APIRouter

from .._deps import Backend, DispatchId, NodeId
from .._errors import UnknownElectronError
from .._models import ElectronDetail, ErrorBody
from .dispatches import missing

router = APIRouter(prefix="/dispatches/{dispatch_id}/electrons", tags=["electrons"])


@router.get(
    "/{node_id}",
    response_model=ElectronDetail,
    responses={404: {"model": ErrorBody, "description": "No such dispatch or node."}},
)
async def get_electron(
    backend: Backend, dispatch_id: DispatchId, node_id: NodeId
) -> ElectronDetail:
    """Inputs, output, stdout, stderr, error with traceback, executor, times, Ray node
    and attempts of one node."""
    data = await backend.electron_detail(dispatch_id, node_id)
    if data is None:
        raise missing(dispatch_id)
    if data["node"] is None:
        raise UnknownElectronError(
            f"dispatch {dispatch_id} has no node {node_id}; GET "
            f"/api/v1/dispatches/{dispatch_id}/graph lists its nodes."
        )
    return ElectronDetail.from_read(dispatch_id, data)
