"""``/api/v1/previews``: lattice graphs drawn before they are dispatched (``lattice.draw()``).

The SDK builds the graph and POSTs it here; the dashboard's ``#/preview/<id>`` page reads
it back with GET. Previews live in the server's memory only (the latest
:data:`MAX_PREVIEWS`), as Covalent's do: they are a drawing aid, not a record.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, Field

from .._errors import UnknownPathError
from .._models import ErrorBody

router = APIRouter(tags=["previews"])

MAX_PREVIEWS = 100
MAX_PREVIEW_NODES = 20_000


class PreviewNode(BaseModel):
    """One node of a previewed graph."""

    id: int = Field(ge=0)
    name: str
    kind: str
    status: str = "NEW_OBJECT"
    executor: str | None = None
    value: str | None = None


class PreviewEdge(BaseModel):
    """One edge of a previewed graph: ``source``'s output feeds ``target``."""

    source: int = Field(ge=0)
    target: int = Field(ge=0)
    kind: str
    name: str | None = None
    index: int | None = None


class PreviewGraph(BaseModel):
    """Nodes and edges, as ``lattice.transport_graph.to_json()`` gives them."""

    nodes: list[PreviewNode] = Field(max_length=MAX_PREVIEW_NODES)
    edges: list[PreviewEdge] = Field(max_length=10 * MAX_PREVIEW_NODES)


class PreviewIn(BaseModel):
    """A lattice's graph to draw."""

    name: str = Field(max_length=500)
    graph: PreviewGraph


class Preview(PreviewIn):
    """A stored preview."""

    id: str
    created_at: float
    url: str = Field(description="Where the dashboard draws it (relative to the server).")


def _store(request: Request) -> OrderedDict[str, Preview]:
    store: OrderedDict[str, Preview] | None = getattr(request.app.state, "previews", None)
    if store is None:
        store = request.app.state.previews = OrderedDict()
    return store


PreviewId = Annotated[
    str, Path(pattern="^[0-9a-f]{32}$", description="A preview ID, as POST /previews gave it.")
]


@router.post(
    "/previews",
    response_model=Preview,
    status_code=status.HTTP_201_CREATED,
    responses={400: {"model": ErrorBody, "description": "The body is not JSON."}},
)
async def create_preview(body: PreviewIn, request: Request) -> Preview:
    """Keep a graph to draw; answers its id and the dashboard URL that draws it."""
    store = _store(request)
    preview_id = uuid.uuid4().hex
    preview = Preview(
        **body.model_dump(), id=preview_id, created_at=time.time(), url=f"/#/preview/{preview_id}"
    )
    store[preview_id] = preview
    while len(store) > MAX_PREVIEWS:
        store.popitem(last=False)
    return preview


@router.get(
    "/previews/{preview_id}",
    response_model=Preview,
    responses={404: {"model": ErrorBody, "description": "No such preview (or evicted)."}},
)
async def get_preview(preview_id: PreviewId, request: Request) -> Any:
    """A graph kept by ``POST /previews``."""
    preview = _store(request).get(preview_id)
    if preview is None:
        raise UnknownPathError(
            f"no preview {preview_id!r} (previews live in the server's memory; the latest "
            f"{MAX_PREVIEWS} are kept). Run lattice.draw() again."
        )
    return preview
