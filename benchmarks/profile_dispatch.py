"""Where one dispatch's time goes, without a profiler.

Run against a started service (``covalent-ray start``):

    python benchmarks/profile_dispatch.py [--shape dag|fan|chain|one] [--size N] [--repeat 5]

For each run it dispatches the shape with ``ct.dispatch`` and waits with
``ct.get_result(wait=True)``, then lines up what every part recorded on one clock (one
machine): the client's build (timed separately on the same inputs), the dispatcher's
receipt, compile and submission of the tasks (``Dispatcher.timings``), the first
electron's start and the last one's end (the stored electron rows), the dispatch's end
as committed by the result manager, and the client's result. It also reports the CPU
seconds the dispatcher and the result manager spent on the dispatch (from /proc, so it
holds on a busy machine where wall times swing). Medians over ``--repeat`` runs, with
min-max.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import dag_shapes  # noqa: E402
from ray_ratio import chain, fan_out, layered, one  # noqa: E402

import covalent_ray as ct  # noqa: E402


def _epoch(ts: datetime | None) -> float | None:
    return None if ts is None else ts.replace(tzinfo=UTC).timestamp()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def shape(name: str, size: int) -> tuple[Any, tuple[Any, ...], str]:
    if name == "one":
        return one, (0,), "one-electron lattice"
    if name == "fan":
        return fan_out, (size,), f"{size}-wide fan-out + reduce"
    if name == "chain":
        return chain, (size,), f"{size}-long chain"
    parents = dag_shapes.layered_dag(size)
    return layered, (parents,), f"layered DAG ({dag_shapes.describe(parents)})"


def profile_once(
    lat: Any, args: tuple[Any, ...], conn: Any, pids: dict[str, int]
) -> dict[str, float]:
    import ray

    b0 = time.perf_counter()
    lat.manifest(args, {})
    build = time.perf_counter() - b0
    cpu0 = {k: cpu_s(p) for k, p in pids.items()}
    t0 = time.time()
    dispatch_id = ct.dispatch(lat)(*args)
    returned = time.time()
    result = ct.get_result(dispatch_id, wait=True)
    got = time.time()
    cpu1 = {k: cpu_s(p) for k, p in pids.items()}
    if result.status != ct.status.COMPLETED:
        raise AssertionError(f"{lat.name} ended {result.status}: {result.error}")
    times = ray.get(conn.dispatcher.timings.remote(dispatch_id)) or {}
    nodes = [
        n
        for n in result.get_all_node_results()
        if n["kind"] != "parameter" and n["start_time"] is not None
    ]
    starts = [_epoch(n["start_time"]) for n in nodes]
    ends = [_epoch(n["end_time"]) for n in nodes if n["end_time"] is not None]
    end = _epoch(result.end_time) or got

    def at(t: float | None) -> float:
        return float("nan") if t is None else t - t0

    return {
        "client build (separate run)": build,
        "dispatcher received": at(times.get("received")),
        "compiled": at(times.get("compiled")),
        "first task submitted": at(times.get("first_submitted")),
        "all tasks submitted": at(times.get("submitted")),
        "ct.dispatch returned": at(returned),
        "first electron started": at(min(starts)),
        "last electron ended": at(max(ends)),
        "dispatch end committed": at(end),
        "get_result returned": at(got),
        "compile": times.get("compiled", 0) - times.get("received", 0),
        "submission": times.get("submitted", 0) - times.get("compiled", 0),
        "final commit (last end -> committed)": end - max(ends),
        "dispatcher CPU": cpu1["dispatcher"] - cpu0["dispatcher"],
        "result manager CPU": cpu1["result_manager"] - cpu0["result_manager"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="dag", choices=["dag", "fan", "chain", "one"])
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from covalent_ray.client.connect import connect

    conn = connect()
    import ray

    pids = {
        "dispatcher": ray.get(conn.dispatcher.pid.remote()),
        "result_manager": ray.get(conn.result_manager.pid.remote()),
    }
    lat, lat_args, title = shape(args.shape, args.size)
    ct.dispatch_sync(one)(0)  # warm the workers
    runs = [profile_once(lat, lat_args, conn, pids) for _ in range(args.repeat)]
    print(f"{title}: {args.repeat} runs, times from the ct.dispatch call (median, min-max)")
    for key in runs[0]:
        values = [r[key] for r in runs]
        med = statistics.median(values)
        unit = "s CPU" if "CPU" in key else "ms"
        scale = 1 if "CPU" in key else 1000
        print(
            f"  {key:<40}{med * scale:>10.{3 if scale == 1 else 1}f} {unit}"
            f"   ({min(values) * scale:.{3 if scale == 1 else 1}f}-"
            f"{max(values) * scale:.{3 if scale == 1 else 1}f})"
        )


if __name__ == "__main__":
    main()
