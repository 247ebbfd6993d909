"""Concurrent load on a started service: many clients dispatching at once, then a burst of
large lattices back to back.

    python benchmarks/concurrent_load.py [--clients 5] [--per-client 20]
                                         [--burst 50] [--burst-width 200] [--json]

Phase 1: ``--clients`` processes each dispatch ``--per-client`` lattices at once (mixed
shapes: chains, fan-outs, sublattices; every fifth one fails on purpose), then wait for
all of them. Phase 2: ``--burst`` dispatches of a ``--burst-width``-electron fan-out,
back to back from one client. Every dispatch's final status and result are checked
against what the client expects, and against the database (through the result manager):
nothing may stay RUNNING. Prints throughput and the result manager's commit latency.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from typing import Any

import covalent_ray as ct


@ct.electron
def inc(x: int) -> int:
    return x + 1


@ct.electron
def total(values: list[int]) -> int:
    return sum(values)


@ct.electron
def explode(x: int) -> int:
    raise ValueError(f"planned failure on {x}")


@ct.lattice
def chain(n: int) -> int:
    x = 0
    for _ in range(n):
        x = inc(x)
    return x


@ct.lattice
def fan(n: int) -> int:
    return total([inc(i) for i in range(n)])


@ct.lattice
def nested(n: int) -> int:
    return inc(ct.electron(fan)(n))


@ct.lattice
def failing(n: int) -> int:
    return inc(explode(n))


def workload(index: int) -> tuple[Any, tuple[int], str, Any]:
    """The ``index``-th lattice of a client: (lattice, args, expected status, result)."""
    n = 3 + index % 7
    if index % 5 == 4:
        return failing, (n,), "FAILED", None
    kind = index % 3
    if kind == 0:
        return chain, (n,), "COMPLETED", n
    if kind == 1:
        return fan, (n,), "COMPLETED", sum(range(1, n + 1))
    return nested, (n,), "COMPLETED", sum(range(1, n + 1)) + 1


def client(args: tuple[int, int, str]) -> list[dict[str, Any]]:
    """One client process: dispatch everything at once, then wait for each."""
    number, count, home = args
    started = []
    for i in range(count):
        lat, lat_args, status, value = workload(number * 1000 + i)
        started.append((ct.dispatch(lat, home=home)(*lat_args), status, value))
    out = []
    for dispatch_id, status, value in started:
        result = ct.get_result(dispatch_id, wait=True, home=home)
        out.append(
            {
                "dispatch_id": dispatch_id,
                "expected_status": status,
                "expected_result": value,
                "status": result.status.value,
                "result": result.result,
                "running_electrons": sum(
                    1 for n in result.get_all_node_results() if n["status"] == "RUNNING"
                ),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--per-client", type=int, default=20)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--burst-width", type=int, default=200)
    parser.add_argument("--home", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from covalent_ray._home import home_dir
    from covalent_ray.client.connect import connect

    home = str(home_dir(args.home))
    started = time.perf_counter()
    ctx = mp.get_context("spawn")  # each client is a fresh process with its own Ray driver
    pool = ctx.Pool(args.clients)
    try:
        records = [
            r
            for batch in pool.map(client, [(c, args.per_client, home) for c in range(args.clients)])
            for r in batch
        ]
    finally:
        pool.close()  # let the clients exit on their own (terminate() would SIGTERM them)
        pool.join()
    phase1 = time.perf_counter() - started

    conn = connect(home)
    import ray

    wrong = [
        r
        for r in records
        if (r["status"], r["result"]) != (r["expected_status"], r["expected_result"])
        or r["running_electrons"]
    ]
    stored = {
        r["dispatch_id"]: ray.get(conn.result_manager.status.remote(r["dispatch_id"]))
        for r in records
    }
    disagree = [
        d
        for d, s in stored.items()
        if s != next(r["status"] for r in records if r["dispatch_id"] == d)
    ]

    burst_started = time.perf_counter()
    ids = [ct.dispatch(fan, home=home)(args.burst_width) for _ in range(args.burst)]
    burst_results = [
        ct.get_result(i, wait=True, home=home, intermediate_outputs=False) for i in ids
    ]
    phase2 = time.perf_counter() - burst_started
    burst_wrong = [
        r.dispatch_id for r in burst_results if r.result != sum(range(1, args.burst_width + 1))
    ]
    stats = ray.get(conn.result_manager.stats.remote())
    report = {
        "clients": args.clients,
        "per_client": args.per_client,
        "dispatches": len(records),
        "phase1_s": phase1,
        "dispatches_per_s": len(records) / phase1,
        "wrong": wrong,
        "db_disagrees": disagree,
        "burst": args.burst,
        "burst_width": args.burst_width,
        "phase2_s": phase2,
        "burst_electrons_per_s": args.burst * (args.burst_width + 2) / phase2,
        "burst_wrong": burst_wrong,
        "result_manager": stats,
    }
    if args.json:
        print(json.dumps(report, default=str))
    else:
        print(
            f"phase 1: {len(records)} dispatches from {args.clients} clients in "
            f"{phase1:.1f} s ({report['dispatches_per_s']:.1f}/s); wrong: {len(wrong)}, "
            f"database disagrees: {len(disagree)}"
        )
        print(
            f"phase 2: {args.burst} x {args.burst_width}-wide fan-out in {phase2:.1f} s "
            f"({report['burst_electrons_per_s']:.0f} electrons/s); wrong: {len(burst_wrong)}"
        )
        print(
            f"result manager: {stats['commits']} commits, mean "
            f"{stats['mean_commit_ms']:.1f} ms, max {stats['max_commit_ms']:.1f} ms, "
            f"{stats['node_updates']} electron updates"
        )
    if wrong or disagree or burst_wrong:
        sys.exit(1)


if __name__ == "__main__":
    main()
