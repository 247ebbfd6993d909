"""Lattices the API tests dispatch. Their names start with ``api_`` so that name filters
select exactly them in the session's shared database."""

from __future__ import annotations

import covalent_ray as ct


@ct.electron
def join_words(a: str, b: str) -> str:
    print(f"joining {a} and {b}")
    return ", ".join([a, b])


@ct.electron
def excitement(a: str) -> str:
    return f"{a}!"


@ct.lattice
def api_hello(a: str, b: str) -> str:
    """Join two words and get excited."""
    return excitement(join_words(a, b))


@ct.electron
def explode(x: int) -> int:
    raise ValueError(f"cannot take {x}")


@ct.lattice
def api_broken(x: int) -> int:
    return explode(x)


@ct.electron
def double(x: int) -> int:
    return 2 * x


def triple(x: int) -> int:
    """Not an electron: a test makes it one on the executor it wants."""
    return 3 * x


@ct.lattice
def api_inner(x: int) -> int:
    return double(x)


@ct.lattice
def api_outer(x: int) -> int:
    return double(ct.electron(api_inner)(x))


@ct.electron
def nap(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


@ct.lattice
def api_naps(seconds: float) -> list[float]:
    return [nap(seconds), nap(seconds)]


# no annotations: annotated functions do not yet pickle to the same bytes after a round
# trip through storage, so a redispatch cannot recognise them as unchanged (reported)
@ct.electron
def add(a, b):
    return a + b


@ct.electron
def square(x):
    return x * x


@ct.lattice
def api_square_of_sum(a, b):
    return square(add(a, b))


@ct.electron
def api_inc(x: int) -> int:
    return x + 1


@ct.electron
def api_total(values: list[int]) -> int:
    return sum(values)


@ct.lattice
def api_fan(width: int) -> int:
    return api_total([api_inc(i) for i in range(width)])
