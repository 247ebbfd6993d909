"""The API token, the Host check, and where the server may listen."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from covalent_ray._exceptions import ServiceError
from covalent_ray.api import ServiceBackend, create_app
from covalent_ray.api._security import LOOPBACK_HOSTS
from covalent_ray.service.options import ApiOptions, bind, is_loopback, url_for

TOKEN = "s3cret-token-for-tests-0123456789"


@pytest.fixture
async def guarded(backend: ServiceBackend) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(backend, token=TOKEN, allowed_hosts=LOOPBACK_HOSTS)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as c:
        yield c


@pytest.mark.anyio
async def test_token_is_required_on_data_routes(guarded: httpx.AsyncClient) -> None:
    for path in (
        "/api/v1/dispatches",
        "/api/v1/stats",
        "/api/v1/events?limit=0",
        "/api/v1/dispatches/0c5e0d9e-0000-4000-8000-000000000000",
    ):
        r = await guarded.get(path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in r.json()["detail"]
        wrong = await guarded.get(path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "the API token is wrong."
    ok = await guarded.get("/api/v1/dispatches", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and "items" in ok.json()


@pytest.mark.anyio
async def test_health_version_docs_and_dashboard_need_no_token(guarded: httpx.AsyncClient) -> None:
    for path in ("/api/v1/health", "/api/v1/version", "/openapi.json", "/docs", "/", "/ui/app.js"):
        assert (await guarded.get(path)).status_code == 200, path
    schema = (await guarded.get("/openapi.json")).json()
    assert "APIToken" in schema["components"]["securitySchemes"]


@pytest.mark.anyio
async def test_foreign_host_header_is_refused_on_loopback(backend: ServiceBackend) -> None:
    # a page on another site re-pointing its name at 127.0.0.1 (DNS rebinding) sends
    # its own name as Host
    app = create_app(backend, allowed_hosts=LOOPBACK_HOSTS)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://evil.example"
    ) as c:
        assert (await c.get("/api/v1/dispatches")).status_code == 400
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost:48008"
    ) as c:
        assert (await c.get("/api/v1/health")).status_code == 200


def test_public_address_requires_a_token() -> None:
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.com"):
        assert not is_loopback(host)
        with pytest.raises(ServiceError, match="without an API token"):
            ApiOptions(host=host).check()
        ApiOptions(host=host, token=TOKEN).check()
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        assert is_loopback(host)
        ApiOptions(host=host).check()
    with pytest.raises(ServiceError, match="too short"):
        ApiOptions(token="short").check()
    with pytest.raises(ServiceError, match="not a TCP port"):
        ApiOptions(port=70000).check()


def test_token_and_address_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVALENT_RAY_API_TOKEN", TOKEN)
    monkeypatch.setenv("COVALENT_RAY_API_PORT", "48123")
    monkeypatch.delenv("COVALENT_RAY_API_HOST", raising=False)
    assert ApiOptions.from_env() == ApiOptions("127.0.0.1", 48123, TOKEN)
    assert ApiOptions.from_env(port=5).port == 5


def test_busy_port_is_refused_with_a_way_out() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServiceError, match=rf"127\.0\.0\.1:{port}.*--port"):
            bind(ApiOptions(port=port))
    free = bind(ApiOptions(port=0))
    try:
        assert free.getsockname()[1] > 0
    finally:
        free.close()
    assert url_for("0.0.0.0", 80) == "http://127.0.0.1:80"
    assert url_for("::1", 81) == "http://[::1]:81"


def test_start_refuses_before_starting_anything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env_home = ["--home", str(home)]
    out = subprocess.run(
        [sys.executable, "-m", "covalent_ray.cli.main", "start", "--host", "0.0.0.0", *env_home],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "without an API token" in out.stderr and "--api-token" in out.stderr
    assert not (home / "service.json").exists()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "covalent_ray.cli.main",
                "start",
                "--port",
                str(port),
                *env_home,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 1 and f"127.0.0.1:{port}" in out.stderr
    assert not (home / "service.json").exists()  # no Ray head was started for nothing
