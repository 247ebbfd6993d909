"""Lattices whose results the SQL tests query (shipped to workers by value)."""

from __future__ import annotations

import time

import covalent_ray as ct

#: the sweep's grid: every (lr, depth) pair is one dispatch of ``lr_depth_sweep``
GRID = [(lr, depth) for lr in (0.01, 0.03, 0.05, 0.1) for depth in (2, 4, 8)]


def expected_score(lr: float, depth: int) -> float:
    """The score ``train`` reports: best at lr 0.05 and depth 4, no two grid points tied."""
    return round(1.0 - 4.0 * abs(lr - 0.05) - 0.015 * abs(depth - 4), 6)


@ct.electron
def train(lr, depth):
    return {"score": expected_score(lr, depth), "epochs": depth * 10}


@ct.lattice
def lr_depth_sweep(lr, depth):
    return train(lr, depth)


class Opaque:
    """A value with no JSON form."""

    def __repr__(self) -> str:
        return "Opaque(7)"


@ct.electron
def scale(x, factor=2, *rest, label="none"):
    print(f"scaling {x}")
    return [x * factor, *rest, label]


@ct.electron
def wrap(values, tag):
    return Opaque()


@ct.electron
def explode(x):
    raise ValueError(f"cannot handle {x}")


@ct.electron
def after(x):
    return x


@ct.lattice
def mixed(x, tag="t"):
    listed = scale(x, 3, 4, 5, label="five")
    opaque = wrap(listed, tag=tag)
    return {"listed": listed, "opaque": opaque}


@ct.lattice
def failing(x):
    good = after(x)
    return after(explode(x)), good


@ct.electron
def slow_step(seconds):
    time.sleep(seconds)
    return seconds


@ct.lattice
def slow(seconds):
    return slow_step(seconds)


@ct.electron
def add_one(x):
    return x + 1


@ct.lattice
def child(x):
    return add_one(x)


@ct.lattice
def parent(x):
    return ct.electron(child)(x) * 2
