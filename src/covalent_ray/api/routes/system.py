"""``/api/v1/health``, ``/api/v1/version`` and ``/api/v1/stats``."""

from __future__ import annotations

import platform

from fastapi import APIRouter

from ..._version import __version__
from .._deps import Backend
from .._models import ErrorBody, Health, Stats, Version

#: answers anyone (no data); ``router`` needs the API token when one is set
public_router = APIRouter(tags=["system"])
router = APIRouter(tags=["system"])


@public_router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": ErrorBody, "description": "The service does not answer."}},
)
async def health(backend: Backend) -> Health:
    """Whether the server and the result manager behind it answer."""
    await backend.ping()
    return Health(status="ok", result_manager="ok")


@public_router.get("/version", response_model=Version)
async def version() -> Version:
    """Versions of the API, covalent-ray, Ray and Python."""
    import ray

    return Version(covalent_ray=__version__, ray=ray.__version__, python=platform.python_version())


@router.get("/stats", response_model=Stats)
async def stats(backend: Backend) -> Stats:
    """How many dispatches are stored in each status."""
    return Stats(dispatches_by_status=await backend.counts())
