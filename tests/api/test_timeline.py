"""The timeline of a dispatch: every node but parameters, where it ran, each attempt."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import covalent_ray as ct

from . import workflows as wf

pytestmark = pytest.mark.anyio


@ct.electron(retries=1, retry_delay=0.0)
def api_flaky(path):
    runs = int(Path(path).read_text()) if Path(path).exists() else 0
    Path(path).write_text(str(runs + 1))
    if runs < 1:
        raise ValueError("first attempt fails")
    return runs + 1


@ct.lattice
def api_retried(path):
    return api_flaky(path)


async def test_timeline_has_times_lanes_and_attempts(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    hello = ct.dispatch(wf.api_hello)("time", "line")
    retried = ct.dispatch(api_retried)(str(tmp_path / "runs"))
    for d in (hello, retried):
        ct.get_result(d, wait=True, timeout=120)

    t = (await client.get(f"/api/v1/dispatches/{hello}/timeline")).json()
    assert t["status"] == "COMPLETED" and t["start_time"].endswith("Z")
    by_name = {n["name"]: n for n in t["nodes"]}
    assert set(by_name) == {"join_words", "excitement"}  # parameters are left out
    join, excite = by_name["join_words"], by_name["excitement"]
    assert join["ray_node_id"] and join["worker_pid"] > 0
    assert join["end_time"] <= excite["start_time"]  # ISO UTC strings order as times
    assert t["start_time"] <= join["start_time"] and excite["end_time"] <= t["end_time"]
    [attempt] = join["attempts"]
    assert attempt["status"] == "COMPLETED" and attempt["worker_pid"] == join["worker_pid"]

    t = (await client.get(f"/api/v1/dispatches/{retried}/timeline")).json()
    [flaky] = t["nodes"]
    assert flaky["attempt"] == 2
    first, second = flaky["attempts"]
    assert (first["status"], second["status"]) == ("FAILED", "COMPLETED")
    assert "first attempt fails" in first["error"]
    assert first["end_time"] <= second["start_time"]


async def test_timeline_of_an_unknown_dispatch_is_404(client: httpx.AsyncClient) -> None:
    unknown = "0c5e0d9e-0000-4000-8000-000000000000"
    r = await client.get(f"/api/v1/dispatches/{unknown}/timeline")
    assert r.status_code == 404 and unknown in r.json()["detail"]
