"""Workflow DAG shapes for the benchmarks: layered DAGs with wide fan-in, as plain data.

A real workflow (the WfCommons recipes' Montage, Epigenomics, ...) is a few wide layers
of short tasks joined by *merge* tasks that read a whole layer. ``layered_dag`` builds
such a graph deterministically from a seed: a list with, for every task, the indices of
the earlier tasks it reads (its parents). The default (500 tasks) has one task with 64
parents and about 1300 edges.

Every benchmark runs the same list twice, as electrons and as plain Ray tasks, and
checks both against ``expected`` (computed here, without Ray).
"""

from __future__ import annotations

import random

MOD = 1_000_003


def layered_dag(
    tasks: int = 500,
    width: int = 32,
    merge_every: int = 4,
    merge_fan_in: int = 64,
    seed: int = 12,
) -> list[list[int]]:
    """Parents of each task of a layered DAG (task ``i`` reads only tasks ``< i``).

    Layers are ``width`` wide (the first is the roots). Every ``merge_every``-th layer
    starts with a merge task reading up to ``merge_fan_in`` tasks of the layers before it;
    other tasks read 1-4 tasks of the previous layer (mostly 1-2) and, one time in four,
    one more from the layer before that.
    """
    rng = random.Random(seed)
    parents: list[list[int]] = []
    layers: list[list[int]] = []
    while len(parents) < tasks:
        layer: list[int] = []
        depth = len(layers)
        for j in range(width):
            if len(parents) >= tasks:
                break
            i = len(parents)
            if depth == 0:
                mine: list[int] = []
            elif j == 0 and depth % merge_every == 0:
                pool = [t for lay in layers[-3:] for t in lay]
                mine = sorted(rng.sample(pool, min(merge_fan_in, len(pool))))
            else:
                prev = layers[-1]
                k = min(len(prev), rng.choice((1, 1, 2, 2, 3, 4)))
                mine = set(rng.sample(prev, k))
                if depth > 1 and rng.random() < 0.25:
                    mine.add(rng.choice(layers[-2]))
                mine = sorted(mine)
            parents.append(mine)
            layer.append(i)
        layers.append(layer)
    return parents


def sinks(parents: list[list[int]]) -> list[int]:
    """Tasks no other task reads."""
    read = {p for ps in parents for p in ps}
    return [i for i in range(len(parents)) if i not in read]


def step(seed: int, *inputs: int) -> int:
    """What each task computes: its seed plus what it read (kept small)."""
    return (seed + sum(inputs)) % MOD


def expected(parents: list[list[int]]) -> list[int]:
    """The values of the sinks, computed here."""
    values: list[int] = []
    for i, ps in enumerate(parents):
        values.append(step(i, *(values[p] for p in ps)))
    return [values[s] for s in sinks(parents)]


def describe(parents: list[list[int]]) -> str:
    """'500 tasks, 1312 edges, max fan-in 64'."""
    edges = sum(len(p) for p in parents)
    return f"{len(parents)} tasks, {edges} edges, max fan-in {max(map(len, parents))}"


if __name__ == "__main__":
    print(describe(layered_dag()))
