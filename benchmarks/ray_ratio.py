"""covalent-ray against plain Ray, row by row, in one run: the table of issue 12.

Run against a started service (``covalent-ray start``):

    python benchmarks/ray_ratio.py [--rows one,fan,chain,dag,wide,threads,memory]
                                   [--repeat 3] [--json]

Every row runs the same work as electrons and as plain Ray tasks (``@ray.remote``) on
the same cluster, in this process, and prints both figures and their ratio:

- ``one``: a one-electron lattice, dispatch to result (median of 30) against one
  synchronous Ray task.
- ``fan``: a fan-out of ``--width`` electrons reduced by one more.
- ``chain``: a chain of ``--length`` electrons.
- ``dag``: a layered workflow DAG (``dag_shapes.layered_dag``: 500 tasks, ~1300 edges, a
  merge task with 64 parents).
- ``wide``: a fan-out of ``--wide`` (10,000) electrons, once.
- ``threads``: ``--dispatches`` (200) one-electron dispatches submitted at once from
  ``--threads`` (16) threads, each waiting for its results (dispatches per second),
  against as many one-task ``ray.get`` calls from as many threads.
- ``memory``: ``--memory-dispatches`` (500) small dispatches back to back: resident
  memory of the dispatcher and the result manager after the first 50 and at the end,
  as MB per 1000 dispatches (no plain-Ray counterpart).

The machine is shared and noisy: compare the ratio, and run it several times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import dag_shapes  # noqa: E402

import covalent_ray as ct  # noqa: E402


@ct.electron
def inc(x: int) -> int:
    return x + 1


@ct.electron
def total(values: list[int]) -> int:
    return sum(values)


@ct.electron
def step(seed: int, *inputs: int) -> int:
    return (seed + sum(inputs)) % 1_000_003  # dag_shapes.step (workers cannot import it)


@ct.lattice
def one(x: int) -> int:
    return inc(x)


@ct.lattice
def fan_out(width: int) -> int:
    return total([inc(i) for i in range(width)])


@ct.lattice
def chain(length: int) -> int:
    x = 0
    for _ in range(length):
        x = inc(x)
    return x


@ct.lattice
def layered(parents: list[list[int]]) -> list[int]:
    out: list[Any] = []
    for i, ps in enumerate(parents):
        out.append(step(i, *(out[p] for p in ps)))
    return [out[s] for s in dag_shapes.sinks(parents)]


def timed(fn: Callable[[], Any], repeat: int, expect: Any) -> list[float]:
    """Wall times of ``repeat`` calls, each checked against ``expect``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        got = fn()
        times.append(time.perf_counter() - start)
        if got != expect:
            raise AssertionError(f"wrong result {str(got)[:200]}, expected {str(expect)[:200]}")
    return times


def rss_mb(pid: int) -> float:
    """Resident memory of a process on this machine, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from covalent_ray.client.connect import connect

        self.args = args
        self.conn = connect()  # joins the service's cluster; plain Ray uses the same one
        import ray

        self.ray = ray

        @ray.remote
        def r_inc(x: int) -> int:
            return x + 1

        @ray.remote
        def r_total(*values: int) -> int:
            return sum(values)

        @ray.remote
        def r_step(seed: int, *inputs: int) -> int:
            return (seed + sum(inputs)) % 1_000_003

        self.r_inc, self.r_total, self.r_step = r_inc, r_total, r_step

    # -- the two sides of each row --------------------------------------------------------

    @staticmethod
    def cr(lat: Any, *a: Any) -> Callable[[], Any]:
        def run() -> Any:
            result = ct.dispatch_sync(lat)(*a)
            if result.status != ct.status.COMPLETED:
                raise AssertionError(f"{lat.name} ended {result.status}: {result.error}")
            return result.result

        return run

    def ray_one(self) -> int:
        return self.ray.get(self.r_inc.remote(0))

    def ray_fan(self, width: int) -> Callable[[], int]:
        return lambda: self.ray.get(
            self.r_total.remote(*[self.r_inc.remote(i) for i in range(width)])
        )

    def ray_chain(self, length: int) -> Callable[[], int]:
        def run() -> int:
            ref = self.r_inc.remote(0)
            for _ in range(length - 1):
                ref = self.r_inc.remote(ref)
            return self.ray.get(ref)

        return run

    def ray_dag(self, parents: list[list[int]]) -> Callable[[], list[int]]:
        def run() -> list[int]:
            refs: list[Any] = []
            for i, ps in enumerate(parents):
                refs.append(self.r_step.remote(i, *(refs[p] for p in ps)))
            return self.ray.get([refs[s] for s in dag_shapes.sinks(parents)])

        return run

    # -- rows -----------------------------------------------------------------------------

    def row(
        self,
        name: str,
        ours: Callable[[], Any],
        theirs: Callable[[], Any],
        repeat: int,
        expect: Any,
    ) -> dict[str, Any]:
        # alternate the two so that a drift in the machine's speed hits both alike
        c_times: list[float] = []
        r_times: list[float] = []
        for _ in range(repeat):
            c_times += timed(ours, 1, expect)
            r_times += timed(theirs, 1, expect)
        c, r = statistics.median(c_times), statistics.median(r_times)
        return {
            "row": name,
            "covalent_ray_s": c,
            "ray_s": r,
            "ratio": c / r,
            "covalent_ray_range_s": [min(c_times), max(c_times)],
            "ray_range_s": [min(r_times), max(r_times)],
            "runs": repeat,
        }

    def run_one(self) -> dict[str, Any]:
        return self.row("one-electron lattice", self.cr(one, 0), self.ray_one, 30, 1)

    def run_fan(self) -> dict[str, Any]:
        w = self.args.width
        return self.row(
            f"{w}-wide fan-out + reduce",
            self.cr(fan_out, w),
            self.ray_fan(w),
            self.args.repeat,
            sum(range(1, w + 1)),
        )

    def run_chain(self) -> dict[str, Any]:
        n = self.args.length
        return self.row(
            f"{n}-long chain", self.cr(chain, n), self.ray_chain(n), self.args.repeat, n
        )

    def run_dag(self) -> dict[str, Any]:
        parents = dag_shapes.layered_dag(self.args.dag_tasks)
        return self.row(
            f"layered DAG ({dag_shapes.describe(parents)})",
            self.cr(layered, parents),
            self.ray_dag(parents),
            self.args.repeat,
            dag_shapes.expected(parents),
        )

    def run_wide(self) -> dict[str, Any]:
        w = self.args.wide
        out = self.row(
            f"{w}-wide fan-out", self.cr(fan_out, w), self.ray_fan(w), 1, sum(range(1, w + 1))
        )
        out["per_electron_ms"] = 1000 * out["covalent_ray_s"] / w
        return out

    def run_threads(self) -> dict[str, Any]:
        n, threads = self.args.dispatches, self.args.threads

        def ours() -> float:
            def one_dispatch(i: int) -> Any:
                r = ct.get_result(ct.dispatch(one)(i), wait=True)
                assert r.status == ct.status.COMPLETED and r.result == i + 1, (r.status, r.error)
                return r

            start = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(one_dispatch, range(n)))
            return n / (time.perf_counter() - start)

        def theirs() -> float:
            start = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                got = list(pool.map(lambda i: self.ray.get(self.r_inc.remote(i)), range(n)))
            assert got == [i + 1 for i in range(n)]
            return n / (time.perf_counter() - start)

        c_rates, r_rates = [], []
        for _ in range(self.args.repeat):
            c_rates.append(ours())
            r_rates.append(theirs())
        c, r = statistics.median(c_rates), statistics.median(r_rates)
        return {
            "row": f"{n} one-electron dispatches from {threads} threads (per s)",
            "covalent_ray_per_s": c,
            "ray_per_s": r,
            "ratio": r / c,
            "covalent_ray_range_per_s": [min(c_rates), max(c_rates)],
            "ray_range_per_s": [min(r_rates), max(r_rates)],
            "runs": self.args.repeat,
        }

    def run_memory(self) -> dict[str, Any]:
        n = self.args.memory_dispatches
        pids = {
            "dispatcher": self.ray.get(self.conn.dispatcher.pid.remote()),
            "result_manager": self.ray.get(self.conn.result_manager.pid.remote()),
        }
        warm = min(50, n // 2)
        for i in range(warm):
            self.cr(one, i)()
        before = {k: rss_mb(p) for k, p in pids.items()}
        start = time.perf_counter()
        for i in range(n - warm):
            self.cr(one, i)()
        took = time.perf_counter() - start
        after = {k: rss_mb(p) for k, p in pids.items()}
        per_1000 = {k: 1000 * (after[k] - before[k]) / (n - warm) for k in pids}
        return {
            "row": f"{n} small dispatches back to back (RSS MB per 1000 dispatches)",
            "rss_before_mb": before,
            "rss_after_mb": after,
            "mb_per_1000": per_1000,
            "dispatches_per_s": (n - warm) / took,
        }


def fmt_s(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def fmt_range(lo_hi: list[float]) -> str:
    return f"{fmt_s(lo_hi[0])}-{fmt_s(lo_hi[1])}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="one,fan,chain,dag,wide,threads,memory")
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--dag-tasks", type=int, default=500)
    parser.add_argument("--wide", type=int, default=10_000)
    parser.add_argument("--dispatches", type=int, default=200)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--memory-dispatches", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    args = parser.parse_args()

    bench = Bench(args)
    # warm both paths (worker processes, imports)
    bench.ray_one()
    bench.cr(one, 0)()
    bench.cr(fan_out, 10)()
    bench.ray_fan(10)()
    rows = []
    for name in args.rows.split(","):
        out = getattr(bench, f"run_{name.strip()}")()
        rows.append(out)
        if not args.json:
            print(render(out), flush=True)
    if args.json:
        print(json.dumps(rows))


def render(r: dict[str, Any]) -> str:
    if "covalent_ray_s" in r:
        return (
            f"{r['row']:<58} covalent-ray {fmt_s(r['covalent_ray_s']):>9} "
            f"({fmt_range(r['covalent_ray_range_s'])})  plain Ray {fmt_s(r['ray_s']):>9} "
            f"({fmt_range(r['ray_range_s'])})  ratio {r['ratio']:.2f}x"
        )
    if "covalent_ray_per_s" in r:
        lo, hi = r["covalent_ray_range_per_s"]
        rlo, rhi = r["ray_range_per_s"]
        return (
            f"{r['row']:<58} covalent-ray {r['covalent_ray_per_s']:7.0f}/s ({lo:.0f}-{hi:.0f})  "
            f"plain Ray {r['ray_per_s']:7.0f}/s ({rlo:.0f}-{rhi:.0f})  ratio {r['ratio']:.2f}x"
        )
    per = r["mb_per_1000"]
    return (
        f"{r['row']:<58} dispatcher {per['dispatcher']:+.1f} MB, result manager "
        f"{per['result_manager']:+.1f} MB (RSS {r['rss_after_mb']['dispatcher']:.0f} / "
        f"{r['rss_after_mb']['result_manager']:.0f} MB; {r['dispatches_per_s']:.0f} dispatches/s)"
    )


if __name__ == "__main__":
    main()
