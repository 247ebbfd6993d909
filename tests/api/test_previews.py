"""``/api/v1/previews``: graphs drawn by ``lattice.draw()`` before any dispatch."""

from __future__ import annotations

import httpx
import pytest

from covalent_ray.api.routes.previews import MAX_PREVIEWS

pytestmark = pytest.mark.anyio

GRAPH = {
    "nodes": [
        {"id": 0, "name": "add", "kind": "electron", "executor": "dask"},
        {"id": 1, "name": ":parameter:1", "kind": "parameter", "value": "1"},
    ],
    "edges": [{"source": 1, "target": 0, "kind": "arg", "name": "a", "index": 0}],
}


async def test_a_preview_is_kept_and_read_back(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/previews", json={"name": "wf", "graph": GRAPH})
    assert created.status_code == 201
    body = created.json()
    assert body["url"] == f"/#/preview/{body['id']}"
    read = await client.get(f"/api/v1/previews/{body['id']}")
    assert read.status_code == 200
    assert read.json()["graph"]["nodes"][0]["name"] == "add"
    assert read.json()["graph"]["edges"][0]["source"] == 1


async def test_unknown_and_evicted_previews_are_404(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/previews/" + "0" * 32)
    assert missing.status_code == 404 and "lattice.draw()" in missing.json()["detail"]
    first = (await client.post("/api/v1/previews", json={"name": "a", "graph": GRAPH})).json()
    for _ in range(MAX_PREVIEWS):
        await client.post("/api/v1/previews", json={"name": "b", "graph": GRAPH})
    assert (await client.get(f"/api/v1/previews/{first['id']}")).status_code == 404


async def test_a_malformed_preview_is_refused(client: httpx.AsyncClient) -> None:
    bad = await client.post("/api/v1/previews", json={"name": "wf", "graph": {"nodes": [{}]}})
    assert bad.status_code == 422
