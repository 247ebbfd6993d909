"""Dependencies shared by the routers: the backend, and validated path parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from ._backend import ServiceBackend
from ._models import DISPATCH_ID_PATTERN, MAX_NODE_ID


def get_backend(request: Request) -> ServiceBackend:
    """The backend ``create_app`` was given."""
    backend: ServiceBackend = request.app.state.backend
    return backend


Backend = Annotated[ServiceBackend, Depends(get_backend)]
DispatchId = Annotated[
    str,
    Path(pattern=DISPATCH_ID_PATTERN, description="A dispatch ID, as `ct.dispatch` returned it."),
]
NodeId = Annotated[int, Path(ge=0, le=MAX_NODE_ID, description="A node id of the graph.")]
