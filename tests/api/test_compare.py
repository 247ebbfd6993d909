"""Comparing two dispatches through the REST API, on the session's real store."""

from __future__ import annotations

import httpx
import pytest

import covalent_ray as ct

from . import workflows as wf

pytestmark = pytest.mark.anyio


async def test_compare_names_changed_inputs_outputs_and_statuses(
    client: httpx.AsyncClient,
) -> None:
    base = ct.dispatch(wf.api_hello)("compare", "left")
    other = ct.dispatch(wf.api_hello)("compare", "right")
    same = ct.dispatch(wf.api_hello)("compare", "left")
    broken = ct.dispatch(wf.api_broken)(3)
    for d in (base, other, same, broken):
        ct.get_result(d, wait=True, timeout=120)

    c = (await client.get(f"/api/v1/dispatches/{base}/compare/{other}")).json()
    assert c["left"]["dispatch_id"] == base and c["right"]["dispatch_id"] == other
    assert c["same_graph"] is True
    assert c["inputs"]["changed"] is True
    assert c["inputs"]["left"]["value"]["args"] == ["compare", "left"]
    assert c["inputs"]["right"]["value"]["args"] == ["compare", "right"]
    assert c["result"]["changed"] is True
    assert c["result"]["right"]["value"] == "compare, right!"
    by = {p["name"]: p for p in c["nodes"]}
    join = by["join_words"]
    assert join["output_changed"] is True and join["status_changed"] is False
    assert join["left"]["output"]["value"] == "compare, left"
    assert join["right"]["output"]["value"] == "compare, right"
    assert join["left"]["duration_s"] is not None and join["trend"] in ("slower", "faster", "same")
    assert by[":parameter:compare"]["output_changed"] is False
    assert c["totals"]["paired"] == 4 and c["totals"]["output_changed"] == 3

    # the same inputs again: same outputs, so only timing can differ
    c = (
        await client.get(
            f"/api/v1/dispatches/{base}/compare/{same}", params={"differences_only": "true"}
        )
    ).json()
    assert c["inputs"]["changed"] is False and c["result"]["changed"] is False
    assert c["totals"]["output_changed"] == 0
    assert all(p["trend"] in ("slower", "faster") for p in c["nodes"])

    # another lattice: its nodes are on one side only, the failure is named
    c = (await client.get(f"/api/v1/dispatches/{base}/compare/{broken}")).json()
    assert c["same_graph"] is False
    explode = next(p for p in c["nodes"] if p["name"] == "explode")
    assert explode["left"] is None and explode["right"]["status"] == "FAILED"
    assert "cannot take 3" in explode["right"]["error"]
    assert c["totals"]["only_right"] >= 1 and c["totals"]["only_left"] >= 2

    c = (await client.get(f"/api/v1/dispatches/{base}/compare/{other}", params={"limit": 1})).json()
    assert len(c["nodes"]) == 1 and c["truncated"] is True


async def test_compare_with_an_unknown_dispatch_is_404(client: httpx.AsyncClient) -> None:
    known = ct.dispatch(wf.api_hello)("compare", "known")
    ct.get_result(known, wait=True, timeout=120)
    unknown = "0c5e0d9e-0000-4000-8000-00000000c0de"
    for a, b in ((known, unknown), (unknown, known)):
        r = await client.get(f"/api/v1/dispatches/{a}/compare/{b}")
        assert r.status_code == 404
        assert unknown in r.json()["detail"]
    r = await client.get(f"/api/v1/dispatches/{known}/compare/bad%20id")
    assert r.status_code in (400, 422)
