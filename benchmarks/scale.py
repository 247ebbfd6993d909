"""Very large lattices: a fan-out + reduce and a layered DAG of ``--size`` electrons.

Run against a started service (``covalent-ray start``):

    python benchmarks/scale.py [--size 100000] [--shapes fan,dag] [--ray]

For each shape it prints the client's build time, dispatch to result, the time of a
later ``ct.get_result`` (the whole dispatch read back, every output included), and the
resident memory of the dispatcher and the result manager before, at the highest seen
while it ran (sampled every 0.2 s) and after, as MB per 1000 electrons. ``--ray`` runs
the same graph as plain Ray tasks too, in the same run.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import dag_shapes  # noqa: E402
from ray_ratio import fan_out, layered, rss_mb  # noqa: E402

import covalent_ray as ct  # noqa: E402


class Peak:
    """Highest RSS of some processes, sampled in a thread while a block runs."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak = {k: rss_mb(p) for k, p in pids.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for k, p in self.pids.items():
                self.peak[k] = max(self.peak[k], rss_mb(p))

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--shapes", default="fan,dag")
    parser.add_argument("--ray", action="store_true", help="also run it as plain Ray tasks")
    args = parser.parse_args()

    from covalent_ray.client.connect import connect

    conn = connect()
    import ray

    pids = {
        "dispatcher": ray.get(conn.dispatcher.pid.remote()),
        "result_manager": ray.get(conn.result_manager.pid.remote()),
    }
    n = args.size
    for name in args.shapes.split(","):
        if name == "fan":
            lat, lat_args, expect = fan_out, (n,), sum(range(1, n + 1))
            title = f"{n}-wide fan-out + reduce"
        else:
            parents = dag_shapes.layered_dag(n, width=max(32, n // 100))
            lat, lat_args, expect = layered, (parents,), dag_shapes.expected(parents)
            title = f"layered DAG ({dag_shapes.describe(parents)})"
        before = {k: rss_mb(p) for k, p in pids.items()}
        start = time.perf_counter()
        lat.manifest(lat_args, {})
        build = time.perf_counter() - start
        with Peak(pids) as peak:
            start = time.perf_counter()
            dispatch_id = ct.dispatch(lat)(*lat_args)
            dispatched = time.perf_counter() - start
            result = ct.get_result(dispatch_id, wait=True)
            took = time.perf_counter() - start
        after = {k: rss_mb(p) for k, p in pids.items()}
        if result.status != ct.status.COMPLETED or result.result != expect:
            raise AssertionError(f"{title} ended {result.status}: {result.error}")
        start = time.perf_counter()
        again = ct.get_result(dispatch_id)
        read = time.perf_counter() - start
        assert again.result == expect and len(again.get_all_node_results()) >= n
        print(f"{title}")
        print(f"  client build {build:.2f} s; ct.dispatch returned after {dispatched:.2f} s")
        print(f"  dispatch to result {took:.2f} s ({1000 * took / n:.2f} ms per electron)")
        print(f"  get_result afterwards {read:.2f} s")
        for k in pids:
            print(
                f"  {k}: RSS {before[k]:.0f} MB before, peak {peak.peak[k]:.0f} MB "
                f"({1000 * (peak.peak[k] - before[k]) / n:.2f} MB per 1000 electrons), "
                f"{after[k]:.0f} MB after"
            )
        if args.ray:

            @ray.remote
            def r_inc(x: int) -> int:
                return x + 1

            @ray.remote
            def r_total(*values: int) -> int:
                return sum(values)

            @ray.remote
            def r_step(seed: int, *inputs: int) -> int:
                return (seed + sum(inputs)) % 1_000_003

            start = time.perf_counter()
            if name == "fan":
                got: Any = ray.get(r_total.remote(*[r_inc.remote(i) for i in range(n)]))
            else:
                refs: list[Any] = []
                for i, ps in enumerate(parents):
                    refs.append(r_step.remote(i, *(refs[p] for p in ps)))
                got = ray.get([refs[s] for s in dag_shapes.sinks(parents)])
            ray_took = time.perf_counter() - start
            assert got == expect
            print(f"  plain Ray {ray_took:.2f} s; ratio {took / ray_took:.2f}x")


if __name__ == "__main__":
    main()
