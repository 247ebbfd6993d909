"""The API under test: the real application, in-process, on the session's service.

Requests go through ``httpx.ASGITransport`` (no socket); the application reads through
the session's real result manager actor, so every answer comes from a real DuckDB store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from covalent_ray.api import ServiceBackend, create_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def backend(service: object, service_home: Path) -> ServiceBackend:
    """The API's access to the session's service."""
    return ServiceBackend.connect(service_home)


@pytest.fixture
async def client(
    backend: ServiceBackend, api_token: str, api_headers: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the application as the service serves it (loopback Host, as a
    local browser sends; the service's token required), logged in with that token."""
    app = create_app(backend, token=api_token, allowed_hosts=["127.0.0.1", "localhost"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1", headers=api_headers
    ) as c:
        yield c
