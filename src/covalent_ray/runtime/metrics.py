"""What the result manager counts for ``/metrics`` (Prometheus' text format).

The result manager sees every electron event, every group commit and every SQL query,
so it keeps the counters and histograms here, in a registry of its own, and answers
``metrics()`` with their exposition text; the HTTP server adds the dispatches by status
and serves the whole at ``/metrics``. Counting is a dictionary update per event; nothing
is exported unless someone scrapes. Counters start again at zero when the result manager
restarts, which Prometheus' ``rate()`` and ``increase()`` expect of a counter.
"""

from __future__ import annotations

from typing import Any

from .._status import Status

#: electron durations, seconds: from tens of milliseconds to hours
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)
#: group commit durations, seconds
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
#: SQL query durations, seconds
SQL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def _executor(name: str | None) -> str:
    return name or "unknown"


class ResultManagerMetrics:
    """The result manager's counters, histograms and gauges, in their own registry."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.started = Counter(
            "covalent_ray_electrons_started",
            "Electrons (and sublattices) that started running, by executor; a retry counts "
            "once more.",
            ["executor"],
            registry=r,
        )
        self.finished = Counter(
            "covalent_ray_electrons_finished",
            "Electrons (and sublattices) that ended, by executor and final status.",
            ["executor", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "covalent_ray_electron_duration_seconds",
            "How long electrons ran, first start to end, all attempts included, by executor.",
            ["executor"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.commit = Histogram(
            "covalent_ray_result_manager_commit_seconds",
            "Duration of the result manager's group commits (one transaction each).",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self.committed_updates = Counter(
            "covalent_ray_result_manager_committed_electron_updates",
            "Electron state updates written by the group commits.",
            registry=r,
        )
        self.queue = Gauge(
            "covalent_ray_result_manager_queue_depth",
            "Writes queued for the next group commit (electron updates, registrations, "
            "dispatch ends, attempts) at the time of the scrape.",
            registry=r,
        )
        self.active = Gauge(
            "covalent_ray_result_manager_active_dispatches",
            "Unfinished dispatches the result manager holds in memory.",
            registry=r,
        )
        self.sql = Counter(
            "covalent_ray_sql_queries",
            "SQL queries over the result views, by outcome (ok, rejected, failed).",
            ["outcome"],
            registry=r,
        )
        self.sql_seconds = Histogram(
            "covalent_ray_sql_query_seconds",
            "Time SQL queries took in the sandbox, refused ones included.",
            buckets=SQL_BUCKETS,
            registry=r,
        )

    def electron_event(
        self, executor: str | None, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        """Count an electron's move from state ``before`` to ``after`` (its status,
        attempt, start and end times, as the result manager merged them)."""
        label = _executor(executor)
        was, now = before["status"], after["status"]
        running = Status.RUNNING.value
        if now == running and (
            was != running or (after.get("attempt") or 0) > (before.get("attempt") or 0)
        ):
            self.started.labels(label).inc()  # a first start, or a retry's
        if Status(now).is_terminal and not Status(was).is_terminal:
            if was != running and after.get("start_time") is not None:
                self.started.labels(label).inc()  # its RUNNING event came late or not at all
            self.finished.labels(label, now).inc()
            start, end = after.get("start_time"), after.get("end_time")
            if start is not None and end is not None:
                self.duration.labels(label).observe(max(0.0, (end - start).total_seconds()))

    def committed(self, seconds: float, node_updates: int) -> None:
        """Record one group commit."""
        self.commit.observe(seconds)
        self.committed_updates.inc(node_updates)

    def sql_query(self, answer: dict[str, Any], seconds: float) -> None:
        """Record one SQL query from the sandbox's answer."""
        error = answer.get("error")
        outcome = (
            "ok" if not error else ("rejected" if error.get("kind") == "rejected" else "failed")
        )
        self.sql.labels(outcome).inc()
        self.sql_seconds.observe(seconds)

    def render(self, queue_depth: int, active: int) -> bytes:
        """The exposition text of everything above, the gauges set to now."""
        from prometheus_client import generate_latest

        self.queue.set(queue_depth)
        self.active.set(active)
        return bytes(generate_latest(self.registry))
