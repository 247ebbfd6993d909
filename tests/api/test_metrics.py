"""``/metrics``: Prometheus' text format, parsed by Prometheus' own client parser."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import covalent_ray as ct
from covalent_ray.api import ServiceBackend, create_app

from . import workflows as wf

pytestmark = pytest.mark.anyio


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by name and labels (the parser fails on anything malformed)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _get(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def _scrape(client: httpx.AsyncClient) -> dict:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return _samples(r.text)


async def test_metrics_count_dispatches_electrons_commits_and_sql(
    client: httpx.AsyncClient,
) -> None:
    before = await _scrape(client)
    ok = ct.dispatch(wf.api_hello)("metrics", "counted")
    bad = ct.dispatch(wf.api_broken)(3)
    for d in (ok, bad):
        ct.get_result(d, wait=True, timeout=120)
    assert (await client.post("/api/v1/sql", json={"query": "SELECT 1 AS one"})).status_code == 200
    refused = await client.post("/api/v1/sql", json={"query": "DROP TABLE dispatches"})
    assert refused.status_code == 400
    after = await _scrape(client)

    def grew(name: str, **labels: str) -> float:
        return _get(after, name, **labels) - _get(before, name, **labels)

    assert _get(after, "covalent_ray_dispatches", status="COMPLETED") >= 1
    assert _get(after, "covalent_ray_dispatches", status="FAILED") >= 1
    assert _get(after, "covalent_ray_dispatches", status="RUNNING") >= 0  # every status listed
    # api_hello's two electrons and api_broken's one, all on the default executor
    assert grew("covalent_ray_electrons_started_total", executor="dask") >= 3
    assert grew("covalent_ray_electrons_finished_total", executor="dask", status="COMPLETED") >= 2
    assert grew("covalent_ray_electrons_finished_total", executor="dask", status="FAILED") >= 1
    assert grew("covalent_ray_electron_duration_seconds_count", executor="dask") >= 3
    assert _get(
        after, "covalent_ray_electron_duration_seconds_bucket", executor="dask", le="+Inf"
    ) == _get(after, "covalent_ray_electron_duration_seconds_count", executor="dask")
    assert grew("covalent_ray_result_manager_commit_seconds_count") >= 2
    assert grew("covalent_ray_result_manager_commit_seconds_sum") > 0
    assert ("covalent_ray_result_manager_queue_depth", ()) in after
    assert grew("covalent_ray_sql_queries_total", outcome="ok") == 1
    assert grew("covalent_ray_sql_queries_total", outcome="rejected") == 1
    assert grew("covalent_ray_sql_query_seconds_count") == 2


async def test_metrics_want_the_token_and_are_scrapeable_off_loopback(
    backend: ServiceBackend,
) -> None:
    token = "metrics-test-token-0123456789"
    # no Host restriction: the server listens on a LAN address, with its token
    app = create_app(backend, token=token)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://192.0.2.10:48008"
    ) as c:
        assert (await c.get("/metrics")).status_code == 401
        wrong = await c.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        r = await c.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert ("covalent_ray_dispatches", (("status", "COMPLETED"),)) in _samples(r.text)
