"""Dispatch-to-result time of covalent-ray against plain Ray tasks, same shapes, same run.

Run against a started service (``covalent-ray start``):

    python benchmarks/core_shapes.py [--width 1000] [--length 1000] [--repeat 3]

Shapes: a one-electron lattice; a fan-out of ``width`` electrons reduced by one more; a
chain of ``length`` electrons. Each is also run as plain Ray tasks (``@ray.remote``) on
the same cluster; the script prints each median time and the ratio to plain Ray.
Covalent 0.240 measured on the 2-core reference machine: 1.2 s for one electron,
~23 s for a 100-wide fan-out, ~318 s for a 1000-wide fan-out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import covalent_ray as ct


@ct.electron
def inc(x: int) -> int:
    return x + 1


@ct.electron
def total(values: list[int]) -> int:
    return sum(values)


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


def _median(fn: Callable[[], Any], repeat: int, expect: Any) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        got = fn()
        times.append(time.perf_counter() - start)
        if got != expect:
            raise AssertionError(f"wrong result {got!r}, expected {expect!r}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    from covalent_ray.client.connect import connect

    connect()  # joins the service's Ray cluster; plain Ray below uses the same cluster
    import ray

    @ray.remote
    def r_inc(x: int) -> int:
        return x + 1

    @ray.remote
    def r_total(*values: int) -> int:
        return sum(values)

    def ray_one() -> int:
        return ray.get(r_inc.remote(0))

    def ray_fan() -> int:
        return ray.get(r_total.remote(*[r_inc.remote(i) for i in range(args.width)]))

    def ray_chain() -> int:
        ref = r_inc.remote(0)
        for _ in range(args.length - 1):
            ref = r_inc.remote(ref)
        return ray.get(ref)

    def cr(lat: Any, *a: Any) -> Callable[[], Any]:
        def run() -> Any:
            result = ct.dispatch_sync(lat)(*a)
            if result.status != ct.status.COMPLETED:
                raise AssertionError(f"{lat.name} ended {result.status}: {result.error}")
            return result.result

        return run

    # warm both paths (worker processes, imports)
    ray_one()
    cr(one, 0)()
    cr(fan_out, 10)()
    width_sum = sum(range(1, args.width + 1))
    rows = [
        (
            "one electron",
            _median(cr(one, 0), max(args.repeat, 30), 1),
            _median(ray_one, max(args.repeat, 30), 1),
        ),
        (
            f"fan-out {args.width} + reduce",
            _median(cr(fan_out, args.width), args.repeat, width_sum),
            _median(ray_fan, args.repeat, width_sum),
        ),
        (
            f"chain {args.length}",
            _median(cr(chain, args.length), args.repeat, args.length),
            _median(ray_chain, args.repeat, args.length),
        ),
    ]
    if args.json:
        print(
            json.dumps(
                [{"shape": s, "covalent_ray_s": c, "ray_s": r, "ratio": c / r} for s, c, r in rows]
            )
        )
        return
    print(f"{'shape':<26}{'covalent-ray':>14}{'plain Ray':>12}{'ratio':>8}")
    for shape, c, r in rows:
        print(f"{shape:<26}{c * 1000:>12.1f}ms{r * 1000:>10.1f}ms{c / r:>8.2f}")


if __name__ == "__main__":
    main()
