"""The live stream of status changes (server-sent events)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

import covalent_ray as ct

from . import workflows as wf

pytestmark = pytest.mark.anyio


def parse(body: str) -> list[tuple[str, Any, str | None]]:
    """(event, data, id) of each event of an SSE body; comments skipped."""
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        name, data, event_id = "message", [], None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line.startswith("id: "):
                event_id = line[4:]
        if data:
            events.append((name, json.loads("\n".join(data)), event_id))
    return events


async def stream(
    client: httpx.AsyncClient, params: dict[str, Any], last_event_id: str | None = None
) -> list[tuple[str, Any, str | None]]:
    """The events of a stream that closes by itself (until_end or limit)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    with anyio.fail_after(120):  # a stream that never closes fails the test, not the run
        r = await client.get("/api/v1/events", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return parse(r.text)


async def current_seq(client: httpx.AsyncClient) -> int:
    with anyio.fail_after(60):
        r = await client.get("/api/v1/events", params={"limit": 0})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    [(name, data, _)] = parse(r.text)
    assert name == "ready"
    return int(data["seq"])


async def test_stream_follows_a_dispatch_to_its_end(
    client: httpx.AsyncClient, service: object
) -> None:
    since = await current_seq(client)
    dispatch_id = ct.dispatch(wf.api_naps)(0.2)
    events = await stream(client, {"dispatch_id": dispatch_id, "since": since, "until_end": "true"})
    names = [e[0] for e in events]
    assert names[0] == "ready" and names[-1] == "end" and set(names[1:-1]) == {"changes"}
    assert events[-1][1] == {"dispatch_id": dispatch_id, "status": "COMPLETED"}
    changes = [c for _, data, _ in events[1:-1] for c in data["changes"]]
    assert all(c["dispatch_id"] == dispatch_id for c in changes)
    assert (changes[0]["type"], changes[0]["status"]) == ("dispatch", "RUNNING")
    assert changes[-1]["type"] == "dispatch" and changes[-1]["status"] == "COMPLETED"
    graph = (await client.get(f"/api/v1/dispatches/{dispatch_id}/graph")).json()
    naps = {n["id"] for n in graph["nodes"] if n["name"] == "nap"}
    seen: dict[int, list[str]] = {}
    for c in changes:
        if c["type"] == "electron":
            seen.setdefault(c["node_id"], []).append(c["status"])
    for node in naps:  # each electron was seen running, then completed
        assert "RUNNING" in seen[node] and seen[node][-1] == "COMPLETED", seen
    ids = [int(e[2]) for e in events[1:-1]]
    assert ids == sorted(ids) and ids[0] > since


async def test_stream_resumes_after_the_last_event_id(
    client: httpx.AsyncClient, service: object
) -> None:
    since = await current_seq(client)
    dispatch_id = ct.dispatch(wf.api_hello)("x", "y")
    ct.get_result(dispatch_id, wait=True, timeout=120)
    params = {"dispatch_id": dispatch_id, "until_end": "true"}
    full = await stream(client, {**params, "since": since})
    changes = [c for e in full if e[0] == "changes" for c in e[1]["changes"]]
    assert changes[-1]["status"] == "COMPLETED"
    # a client reconnecting with the id of the last event it saw gets what came after
    replay = await stream(client, params, last_event_id=full[0][2])
    assert [c for e in replay if e[0] == "changes" for c in e[1]["changes"]] == changes
    last_id = [e[2] for e in full if e[0] == "changes"][-1]
    caught_up = await stream(client, params, last_event_id=last_id)
    assert [e[0] for e in caught_up] == ["ready", "end"]


async def test_following_an_ended_dispatch_ends_at_once(
    client: httpx.AsyncClient, service: object
) -> None:
    dispatch_id = ct.dispatch(wf.api_hello)("a", "b")
    ct.get_result(dispatch_id, wait=True, timeout=120)
    events = await stream(client, {"dispatch_id": dispatch_id, "until_end": "true"})
    assert [e[0] for e in events] == ["ready", "end"]
    assert events[1][1]["status"] == "COMPLETED"


async def test_limit_closes_the_stream(client: httpx.AsyncClient, service: object) -> None:
    since = await current_seq(client)
    ct.get_result(ct.dispatch(wf.api_hello)("c", "d"), wait=True, timeout=120)
    events = await stream(client, {"since": since, "limit": 1})
    assert [e[0] for e in events] == ["ready", "changes"]
