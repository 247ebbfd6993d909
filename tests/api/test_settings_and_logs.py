"""``/api/v1/config`` (the effective settings, secrets hidden) and ``/api/v1/logs`` (the
service's log: its tail, its new lines as a stream, a download)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import anyio
import httpx
import pytest

import covalent_ray as ct
from covalent_ray._logfile import service_log
from covalent_ray.core.redact import REDACTED

pytestmark = pytest.mark.anyio


async def test_config_is_the_effective_one_with_secrets_hidden(
    client: httpx.AsyncClient, service_home: Path
) -> None:
    ct.set_config("executors.ssh.password", "hunter2-not-shown")
    try:
        r = await client.get("/api/v1/config")
        assert r.status_code == 200, r.text
        body = r.json()
    finally:
        ct.set_config("executors.ssh.password", None)
    assert body["config"]["sdk"]["executor_dir"] == ct.get_config("sdk.executor_dir")
    assert body["config"]["executors"]["ssh"]["password"] == REDACTED
    assert "executors.ssh.password" in body["redacted"]
    assert "hunter2" not in r.text
    assert body["file"] == str(service_home / "covalent_ray.toml")


def _log_line(home: Path) -> str:
    line = f"ui-test log line {uuid.uuid4().hex}"
    with open(service_log(home), "a") as f:
        f.write(line + "\n")
    return line


async def test_log_tail_and_download_have_a_line_logged(
    client: httpx.AsyncClient, service_home: Path
) -> None:
    line = _log_line(service_home)
    r = await client.get("/api/v1/logs", params={"lines": 5})
    assert r.status_code == 200, r.text
    tail = r.json()
    assert tail["exists"] and tail["text"].splitlines()[-1] == line
    assert tail["offset"] == service_log(service_home).stat().st_size
    r = await client.get("/api/v1/logs/download")
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    assert line in r.text
    assert (await client.get("/api/v1/logs", params={"lines": 0})).status_code == 422


async def test_log_stream_sends_new_lines(client: httpx.AsyncClient, service_home: Path) -> None:
    size = service_log(service_home).stat().st_size
    line = _log_line(service_home)
    with anyio.fail_after(60):  # a stream that never closes fails the test, not the run
        r = await client.get("/api/v1/logs/stream", params={"offset": size, "limit": 1})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [block for block in r.text.split("\n\n") if block.strip()]
    assert events[0].startswith("event: ready") or "event: ready" in events[0]
    data = json.loads(next(x for x in events[1].splitlines() if x.startswith("data:"))[5:])
    assert "event: lines" in events[1]
    # what this test wrote, and what the service wrote meanwhile
    assert line in data["text"].splitlines()
    assert data["offset"] >= size + len(line) + 1
