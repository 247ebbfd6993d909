"""``/metrics``: the service's metrics in Prometheus' text format.

The result manager counts what it sees (electrons started and finished per executor,
electron durations, group commit latency, the write queue's depth, SQL queries; see
``runtime/metrics.py``) and answers their exposition text; this route adds the stored
dispatches by status and serves both. It sits at the root, where Prometheus looks by
default, and wants the API token like every data route when the server has one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from .._deps import Backend

router = APIRouter(tags=["system"])


class _DispatchCounts:
    """A one-scrape collector of the dispatches by status."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from ..._status import Status

        family = GaugeMetricFamily(
            "covalent_ray_dispatches",
            "Stored dispatches (sublattices' dispatches included) by status.",
            labels=["status"],
        )
        for status in Status:
            family.add_metric([status.value], float(self.counts.get(status.value, 0)))
        yield family


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def metrics(backend: Backend) -> Response:
    """Dispatches by status, electrons started and finished per executor, electron
    durations, result-manager commit latency and queue depth, and SQL queries, in
    Prometheus' text exposition format."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DispatchCounts(await backend.counts()))
    body = generate_latest(registry) + await backend.metrics()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
