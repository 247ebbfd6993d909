"""Listing the service's triggers through the REST API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import covalent_ray as ct

from . import workflows as wf

pytestmark = pytest.mark.anyio


@pytest.fixture
def registered(service: object) -> Iterator[str]:
    """A dispatch registered without running, with a trigger that will not fire soon."""
    dispatch_id = ct.dispatch(wf.api_hello, disable_run=True)("Hello", "World")
    ct.triggers.TimeTrigger(time_gap=3600, lattice_dispatch_id=dispatch_id).register()
    yield dispatch_id
    ct.stop_triggers(dispatch_id)


async def test_lists_a_registered_trigger_and_its_state(
    client: httpx.AsyncClient, registered: str
) -> None:
    r = await client.get("/api/v1/triggers", params={"dispatch_id": registered})
    assert r.status_code == 200
    [item] = r.json()["items"]
    assert item["kind"] == "TimeTrigger" and item["state"] == "active"
    assert item["settings"]["time_gap"] == 3600 and item["firings"] == 0
    active = await client.get("/api/v1/triggers", params={"state": "active"})
    assert item["trigger_id"] in {t["trigger_id"] for t in active.json()["items"]}

    assert ct.stop_triggers(registered) == [item["trigger_id"]]
    r = await client.get("/api/v1/triggers", params={"dispatch_id": registered})
    [item] = r.json()["items"]
    assert item["state"] == "stopped" and item["stopped_at"] is not None


async def test_refuses_an_unknown_state(client: httpx.AsyncClient, service: object) -> None:
    r = await client.get("/api/v1/triggers", params={"state": "paused"})
    assert r.status_code == 422


async def test_a_dispatch_lists_its_triggers_and_the_runs_they_started(
    client: httpx.AsyncClient, service: object
) -> None:
    from .test_triggers_helpers import fired_once

    original, run = fired_once()
    r = await client.get(f"/api/v1/dispatches/{original}/triggers")
    assert r.status_code == 200
    found = r.json()
    assert found["triggered_by"] is None
    [trigger] = found["triggers"]
    assert trigger["kind"] == "TimeTrigger" and trigger["state"] == "stopped"
    assert run in [x["dispatch_id"] for x in found["runs"]]
    assert found["runs_total"] >= 1
    r = await client.get(f"/api/v1/dispatches/{run}/triggers")
    assert r.json()["triggered_by"] == original
    assert r.json()["trigger_id"] == trigger["trigger_id"] and r.json()["triggers"] == []
    r = await client.get("/api/v1/dispatches/no-such-dispatch/triggers")
    assert r.status_code == 404
