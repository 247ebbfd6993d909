"""Cancelling and redispatching through the REST API."""

from __future__ import annotations

import time

import httpx
import pytest

import covalent_ray as ct

from . import workflows as wf

pytestmark = pytest.mark.anyio

UNKNOWN = "0c5e0d9e-0000-4000-8000-000000000000"


async def wait_for_status(
    client: httpx.AsyncClient, dispatch_id: str, node_name: str, status: str, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        graph = (await client.get(f"/api/v1/dispatches/{dispatch_id}/graph")).json()
        if any(n["name"] == node_name and n["status"] == status for n in graph["nodes"]):
            return
        time.sleep(0.1)
    raise AssertionError(f"{node_name} never reached {status}")


async def test_cancel_stops_a_running_dispatch(client: httpx.AsyncClient, service: object) -> None:
    dispatch_id = ct.dispatch(wf.api_naps)(60.0)
    await wait_for_status(client, dispatch_id, "nap", "RUNNING")
    r = await client.post(f"/api/v1/dispatches/{dispatch_id}/cancel", json={})
    assert r.status_code == 200, r.text
    assert r.json()["dispatch_id"] == dispatch_id
    result = ct.get_result(dispatch_id, wait=True, timeout=60)
    assert result.status == ct.status.CANCELLED
    d = (await client.get(f"/api/v1/dispatches/{dispatch_id}")).json()
    assert d["status"] == "CANCELLED" and d["end_time"] is not None

    again = await client.post(f"/api/v1/dispatches/{dispatch_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"] == "CancelError" and "already ended" in again.json()["detail"]


async def test_cancel_and_redispatch_reject_bad_requests(
    client: httpx.AsyncClient, service: object
) -> None:
    for action in ("cancel", "redispatch"):
        r = await client.post(f"/api/v1/dispatches/{UNKNOWN}/{action}", json={})
        assert r.status_code == 404 and UNKNOWN in r.json()["detail"]
    for body in ({"task_ids": [-1]}, {"task_ids": "all"}, {"nonsense": 1}):
        r = await client.post(f"/api/v1/dispatches/{UNKNOWN}/cancel", json=body)
        assert r.status_code == 422, body
    r = await client.post(
        f"/api/v1/dispatches/{UNKNOWN}/redispatch", json={"reuse_previous_results": "perhaps"}
    )
    assert r.status_code == 422
    r = await client.post(
        f"/api/v1/dispatches/{UNKNOWN}/cancel",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


async def test_writes_from_another_site_are_refused(
    client: httpx.AsyncClient, service: object
) -> None:
    dispatch_id = ct.dispatch(wf.api_hello)("p", "q")
    ct.get_result(dispatch_id, wait=True, timeout=120)
    r = await client.post(
        f"/api/v1/dispatches/{dispatch_id}/redispatch", headers={"Origin": "http://evil.example"}
    )
    assert r.status_code == 403 and r.json()["error"] == "CrossSiteRequestError"
    listed = (
        await client.get("/api/v1/dispatches", params={"name": "api_hello", "limit": 500})
    ).json()
    assert all(
        d["dispatch_id"] != dispatch_id or d["status"] == "COMPLETED" for d in listed["items"]
    )
    # the dashboard itself (same origin) may
    r = await client.post(
        f"/api/v1/dispatches/{dispatch_id}/redispatch", headers={"Origin": "http://127.0.0.1"}
    )
    assert r.status_code == 201


async def test_redispatch_runs_again_and_can_reuse_results(
    client: httpx.AsyncClient, service: object
) -> None:
    first = ct.dispatch(wf.api_square_of_sum)(2, 3)
    assert ct.get_result(first, wait=True, timeout=120).result == 25

    r = await client.post(f"/api/v1/dispatches/{first}/redispatch", json={})
    assert r.status_code == 201, r.text
    again = r.json()["dispatch_id"]
    assert again != first and r.json()["redispatch_of"] == first
    assert ct.get_result(again, wait=True, timeout=120).result == 25
    graph = (await client.get(f"/api/v1/dispatches/{again}/graph")).json()
    add = next(n for n in graph["nodes"] if n["name"] == "add")
    e = (await client.get(f"/api/v1/dispatches/{again}/electrons/{add['id']}")).json()
    assert e["reused_from"] is None and e["worker_pid"] is not None  # it ran again

    r = await client.post(
        f"/api/v1/dispatches/{first}/redispatch", json={"reuse_previous_results": True}
    )
    reused = r.json()["dispatch_id"]
    assert ct.get_result(reused, wait=True, timeout=120).result == 25
    e = (await client.get(f"/api/v1/dispatches/{reused}/electrons/{add['id']}")).json()
    assert e["reused_from"] == first and e["output"]["value"] == 5


async def test_delete_removes_an_ended_dispatch(client: httpx.AsyncClient, service: object) -> None:
    running = ct.dispatch(wf.api_naps)(60.0)
    await wait_for_status(client, running, "nap", "RUNNING")
    r = await client.delete(f"/api/v1/dispatches/{running}")
    assert r.status_code == 409 and "cancel it first" in r.json()["detail"]
    ct.cancel(running)
    ct.get_result(running, wait=True, timeout=60)
    r = await client.delete(f"/api/v1/dispatches/{running}")
    assert r.status_code == 200, r.text
    assert r.json()["deleted"] == [running]
    assert (await client.get(f"/api/v1/dispatches/{running}")).status_code == 404
    assert (await client.delete(f"/api/v1/dispatches/{running}")).status_code == 404
