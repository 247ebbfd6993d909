"""Request bodies: malformed JSON is a 4xx, an oversized body a 413 before any parsing or
token check, validation errors quote only excerpts, and /health answers meanwhile.

No Ray: every request here is refused before it reaches the service (the application
gets a backend whose only working call is the health ping).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from covalent_ray.api import ServiceBackend, create_app

LIMIT = 64 * 1024
TOKEN = "t" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}

#: every operation that takes a body (a test below checks the list stays complete)
BODY_PATHS = [
    "/api/v1/sql",
    "/api/v1/dispatches/abc/cancel",
    "/api/v1/dispatches/abc/redispatch",
    "/api/v1/previews",
]

MALFORMED = {
    "infinity": b'{"query": "SELECT 1", "timeout": Infinity}',
    "minus infinity": b'{"query": "SELECT 1", "timeout": -Infinity}',
    "nan": b'{"query": "SELECT 1", "timeout": NaN}',
    "float overflow": b'{"query": "SELECT 1", "timeout": 1e999}',
    "huge int": b'{"query": "SELECT 1", "max_rows": ' + b"9" * 5000 + b"}",
    "deep nesting": b"[" * 30_000 + b"]" * 30_000,
    "invalid utf-8": b'{"query": "\xff\xfe\xfd"}',
    "truncated": b'{"query": "SELECT 1"',
    "not json": b"query=SELECT+1",
    "trailing garbage": b'{"query": "SELECT 1"} {}',
    "lone surrogate": b'{"query": "\\ud800"}',
}


class _HealthyBackend(ServiceBackend):
    """Answers the health ping; anything else would fail (and must not be reached)."""

    def __init__(self) -> None:
        super().__init__(result_manager=None)

    async def ping(self) -> str:
        return "ok"


def _app(token: str | None = TOKEN) -> httpx.AsyncClient:
    app = create_app(_HealthyBackend(), token=token, ui_dir=None, max_body_bytes=LIMIT)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with _app() as c:
        yield c


@pytest.mark.anyio
@pytest.mark.parametrize("path", BODY_PATHS)
@pytest.mark.parametrize("kind", list(MALFORMED))
async def test_malformed_bodies_answer_4xx(client: httpx.AsyncClient, path: str, kind: str) -> None:
    r = await client.post(
        path, content=MALFORMED[kind], headers={**AUTH, "Content-Type": "application/json"}
    )
    assert r.status_code == 422, (kind, r.status_code, r.text)
    error = r.json()["detail"][0]
    # FastAPI's shape for a body that does not parse, whatever made it unparseable
    assert error["type"] == "json_invalid" or kind == "not json", error
    assert len(r.content) < 2000  # a reason, not an echo of the input


@pytest.mark.anyio
async def test_a_json_body_without_content_type_is_checked_too(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/api/v1/sql", content=b'{"query": "SELECT 1", "timeout": NaN}', headers=AUTH
    )
    assert r.status_code == 422 and "NaN" in r.json()["detail"][0]["ctx"]["error"]


@pytest.mark.anyio
async def test_an_oversized_body_is_refused_unread_and_before_the_token_check() -> None:
    read: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        read.append(1)  # the server never asks for a byte of it
        yield b"x" * (LIMIT + 1)

    async with _app() as client:
        r = await client.post(
            "/api/v1/sql",
            content=body(),
            headers={"Content-Length": str(100 * 2**20), "Content-Type": "application/json"},
        )
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "BodyTooLargeError" and str(LIMIT) in r.json()["detail"]
    assert read == []


@pytest.mark.anyio
async def test_a_streamed_oversized_body_stops_at_the_limit_and_health_answers_meanwhile() -> None:
    health_answered = asyncio.Event()
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield b'{"query": "' + b"x" * 1000
        sent.append(1000)
        # the large request is half read: the server must answer /health now
        await asyncio.wait_for(health_answered.wait(), timeout=60)
        for _ in range(1000):  # far more than the limit; reading stops at it
            sent.append(1024)
            yield b"x" * 1024

    async with _app() as client:

        async def health() -> httpx.Response:
            while not sent:  # the large request has begun
                await asyncio.sleep(0)
            response = await client.get("/api/v1/health")
            health_answered.set()
            return response

        big, ok = await asyncio.wait_for(
            asyncio.gather(client.post("/api/v1/sql", content=body(), headers=AUTH), health()),
            timeout=120,
        )
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    assert big.status_code == 413 and big.json()["error"] == "BodyTooLargeError"
    assert sum(sent) < LIMIT + 10 * 1024  # it stopped reading at the limit


@pytest.mark.anyio
async def test_validation_errors_quote_only_an_excerpt(client: httpx.AsyncClient) -> None:
    big = "y" * (LIMIT // 8)
    r = await client.post(
        "/api/v1/sql",
        json={"query": "SELECT 1", "max_rows": big, "timeout": big, "params": 3, "extra": big},
        headers=AUTH,
    )
    assert r.status_code == 422
    assert len(r.content) < 3000 and big not in r.text
    fields = {tuple(e["loc"]) for e in r.json()["detail"]}
    assert ("body", "max_rows") in fields and ("body", "extra") in fields
    # an id list of many bad ids lists a bounded number of errors
    r = await client.post(
        "/api/v1/dispatches/abc/cancel", json={"task_ids": ["z" * 20] * 1000}, headers=AUTH
    )
    assert r.status_code == 422 and len(r.content) < 5000
    assert r.json()["detail"][-1]["type"] == "too_many_errors"


@pytest.mark.anyio
async def test_a_body_within_the_limit_reaches_the_route(client: httpx.AsyncClient) -> None:
    # well-formed and small: past the guard, and refused by the route's own validation
    r = await client.post("/api/v1/sql", json={"query": ""}, headers=AUTH)
    assert r.status_code == 422
    r = await client.post("/api/v1/sql", json={"query": "SELECT 1"})
    assert r.status_code == 401  # the token check runs for bodies that pass


@pytest.mark.anyio
async def test_cross_site_writes_stay_refused(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/dispatches/abc/cancel",
        json={},
        headers={**AUTH, "Origin": "http://evil.example"},
    )
    assert r.status_code == 403 and r.json()["error"] == "CrossSiteRequestError"


def test_every_operation_with_a_body_is_covered() -> None:
    spec = create_app(ServiceBackend(result_manager=None), ui_dir=None).openapi()
    with_body = {
        path.replace("{dispatch_id}", "abc")
        for path, methods in spec["paths"].items()
        for op in methods.values()
        if op.get("requestBody")
    }
    assert with_body == set(BODY_PATHS)
