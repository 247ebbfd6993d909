"""Dispatching real lattices on the session's service (Ray + actors + DuckDB)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass

import pytest

import covalent_ray as ct
from covalent_ray._exceptions import LatticeBuildError, MissingDispatchError, SerializationError

pytestmark = pytest.mark.usefixtures("service")


@ct.electron
def join_words(a, b):
    return ", ".join([a, b])


@ct.electron
def excitement(a):
    return f"{a}!"


@ct.lattice
def simple_workflow(a, b):
    return excitement(join_words(a, b))


def test_basic_workflow() -> None:
    dispatch_id = ct.dispatch(simple_workflow)("Hello", "World")
    assert isinstance(dispatch_id, str)
    result = ct.get_result(dispatch_id, wait=True)
    assert result.status == ct.status.COMPLETED
    assert result.result == "Hello, World!"
    assert result.dispatch_id == dispatch_id == result.root_dispatch_id
    assert result.inputs.get_deserialized() == {"args": ("Hello", "World"), "kwargs": {}}
    assert result.error is None
    assert result.start_time <= result.end_time
    node = result.get_node_result(0)
    assert node["node_name"] == "join_words"
    assert node["status"] == ct.status.COMPLETED
    assert node["output"].get_deserialized() == "Hello, World"
    assert node["start_time"] <= node["end_time"]
    assert result.get_all_node_outputs()["excitement(3)"].get_deserialized() == "Hello, World!"
    assert result.lattice.name == "simple_workflow"


@ct.electron
def identity(x):
    return x


@ct.lattice
def arithmetic():
    x = identity(2)
    return [x + 1, x - 1, x * 1, x / 1, 1 + x, 1 - x, 1 * x, 1 / x, x // 2, x**3, -x]


def test_arithmetic_on_outputs() -> None:
    result = ct.dispatch_sync(arithmetic)()
    assert result.result == [3, 1, 2, 2.0, 3, -1, 2, 0.5, 1, 8, -2]


@ct.electron
def sum_array(arr):
    return sum(arr)


@ct.electron
def square(x):
    return x * x


@ct.electron
def collect(x):
    return x


@ct.electron
def values_of(d):
    return list(d.values())


@ct.lattice
def dict_workflow():
    return square(sum_array(values_of({"x": identity(1), "y": 2, 3: identity(3)})))


def test_collections_of_outputs() -> None:
    @ct.lattice
    def wf():
        nested = collect([[identity(i) for i in range(5)], [identity(i) for i in range(5, 10)]])
        return nested, square(sum_array([identity(1), identity(2), 3]))

    result = ct.dispatch_sync(wf)()
    # a tuple built in the lattice body comes back a list, as in Covalent
    assert result.result == [[[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]], 36]
    assert ct.dispatch_sync(dict_workflow)().result == 36


@dataclass
class Point:
    x: int
    y: int


@ct.electron
def make_point(x, y):
    return Point(x, y)


@ct.electron
def create_array():
    return [0, 1, 2, 3]


@ct.electron
def split(s, n):
    return s[:n], s[n:]


@ct.lattice
def access_workflow():
    arr = create_array()
    p = make_point(3, 4)
    first, last = split("covalent", 2)
    return arr[2], arr[identity(2)], p.x * p.x + p.y * p.y, first, last, p


def test_getitem_getattr_unpacking_and_local_classes() -> None:
    result = ct.dispatch_sync(access_workflow)()
    assert result.status == ct.status.COMPLETED, result.error
    *values, point = result.result
    assert values == [2, 2, 25, "co", "valent"]
    assert (point.x, point.y) == (3, 4)  # a class from this (uninstalled) test module


@ct.electron
def everything(a, /, b, *args, c, **kw):
    return a + b + c, args, kw


@ct.lattice
def parameter_kinds(a, b, *args, c, **kw):
    return everything(a, b, *args, c=c, **kw)


def test_all_parameter_kinds_and_inputs_preserved() -> None:
    result = ct.dispatch_sync(parameter_kinds)(1, 2, 3, 4, c=5, d=6, e=7)
    assert result.result == (8, (3, 4), {"d": 6, "e": 7})
    assert result.inputs == {"args": (1, 2, 3, 4), "kwargs": {"c": 5, "d": 6, "e": 7}}


@ct.electron
def slow(x, seconds=0.3):
    time.sleep(seconds)
    return x


@ct.electron
def task_3(x):
    return x * 300


@ct.lattice
def waiting():
    r1a = slow(1)
    r1b = slow(2)
    r2 = ct.wait(task_3(5), [r1a, r1b])
    return r2


def test_wait_orders_electrons_without_data() -> None:
    result = ct.dispatch_sync(waiting)()
    assert result.result == 1500
    child = next(n for n in result.get_all_node_results() if n["node_name"] == "task_3")
    slow_nodes = [n for n in result.get_all_node_results() if n["node_name"] == "slow"]
    assert len(slow_nodes) == 2
    for n in slow_nodes:
        assert child["start_time"] >= n["end_time"]


@ct.electron
def failing(x):
    print("Hello from Task 0")
    print("about to fail", file=sys.stderr)
    raise RuntimeError(f"electron failed on {x}")


@ct.electron
def double(x):
    return 2 * x


@ct.lattice
def failing_workflow(x):
    bad = failing(x)
    downstream = double(bad)
    independent = double(double(double(x)))
    return downstream, independent


def test_failure_stops_downstream_only() -> None:
    result = ct.dispatch_sync(failing_workflow)(1)
    assert result.status == ct.status.FAILED
    assert result.result is None
    assert "failing" in result.error and "RuntimeError: electron failed on 1" in result.error
    by_name = {}
    for n in result.get_all_node_results():
        by_name.setdefault(n["node_name"], []).append(n)
    bad = by_name["failing"][0]
    assert bad["status"] == ct.status.FAILED
    assert "Traceback" in bad["error"] and "electron failed on 1" in bad["error"]
    assert bad["stdout"] == "Hello from Task 0\n"
    assert "about to fail" in bad["stderr"]
    doubles = sorted(by_name["double"], key=lambda n: n["node_id"])
    assert doubles[0]["status"] == ct.status.NEW_OBJECT  # downstream of the failure
    assert all(n["status"] == ct.status.COMPLETED for n in doubles[1:])
    assert doubles[-1]["output"].get_deserialized() == 8  # the independent chain finished
    assert not [n for n in result.get_all_node_results() if n["status"] == ct.status.RUNNING]


def test_lattice_body_error_raises_in_client() -> None:
    @ct.lattice
    def broken(x):
        raise ValueError("cannot build")

    with pytest.raises(LatticeBuildError, match="cannot build"):
        ct.dispatch(broken)(1)


def test_unpicklable_input_is_refused_at_dispatch() -> None:
    with pytest.raises(SerializationError, match="join_words"):
        ct.dispatch(simple_workflow)(threading.Lock(), "x")


def test_unknown_dispatch_id() -> None:
    with pytest.raises(MissingDispatchError, match="no dispatch with ID 'nope'"):
        ct.get_result("nope")
    with pytest.raises(MissingDispatchError):
        ct.get_result("nope", status_only=True)


@ct.lattice
def inner(x, y):
    return identity(x) + y


@ct.lattice
def outer(x):
    sub = ct.electron(inner)(x, 2)
    return identity(sub) * 10


def test_sublattice_runs_as_child_dispatch() -> None:
    result = ct.dispatch_sync(outer)(1)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == 30
    node = result.get_node_result(0)
    assert node["node_name"] == ":sublattice:inner"
    child = node["sublattice_result"]
    assert child is not None and child.dispatch_id == node["sub_dispatch_id"]
    assert child.dispatch_id != result.dispatch_id
    assert child.root_dispatch_id == result.dispatch_id
    assert child.parent_dispatch_id == result.dispatch_id
    assert child.result == 3
    assert child.inputs == {"args": (1, 2), "kwargs": {}}
    assert [c["dispatch_id"] for c in result.children] == [child.dispatch_id]


def test_failing_sublattice_fails_its_node() -> None:
    @ct.lattice
    def bad_inner(x):
        return failing(x)

    @ct.lattice
    def bad_outer(x):
        return ct.electron(bad_inner)(x)

    result = ct.dispatch_sync(bad_outer)(4)
    assert result.status == ct.status.FAILED
    node = result.get_node_result(0)
    assert node["status"] == ct.status.FAILED
    assert "electron failed on 4" in node["error"]
    assert node["sublattice_result"].status == ct.status.FAILED


def test_dispatch_from_a_process_that_exits_at_once(tmp_path) -> None:
    script = tmp_path / "client.py"
    script.write_text(
        textwrap.dedent("""
        import time
        import covalent_ray as ct

        @ct.electron
        def slow_square(x):
            time.sleep(1.0)
            return x * x

        @ct.lattice
        def wf(x):
            return slow_square(x)

        print(ct.dispatch(wf)(7))
    """)
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    dispatch_id = done.stdout.strip().splitlines()[-1]
    assert ct.get_result(dispatch_id).status in (ct.status.RUNNING, ct.status.COMPLETED)
    result = ct.get_result(dispatch_id, wait=True)
    assert result.status == ct.status.COMPLETED
    assert result.result == 49


def test_running_dispatch_is_visible_live() -> None:
    @ct.lattice
    def long(x):
        return slow(x, 3.0)

    dispatch_id = ct.dispatch(long)(1)
    deadline = time.monotonic() + 20
    seen = None
    while time.monotonic() < deadline:
        seen = ct.get_result(dispatch_id).get_node_result(0)["status"]
        if seen == ct.status.RUNNING:
            break
        time.sleep(0.05)
    assert seen == ct.status.RUNNING
    assert ct.get_result(dispatch_id, status_only=True) == {"id": dispatch_id, "status": "RUNNING"}
    assert ct.get_result(dispatch_id, wait=True).result == 1


@ct.electron
def dask_sum(n):
    import dask
    import dask.array as da
    from ray.util.dask import ray_dask_get

    assert dask.config.get("scheduler") is ray_dask_get
    return int(da.arange(n, chunks=10).sum().compute())


def test_dask_inside_an_electron_runs_on_ray() -> None:
    @ct.lattice
    def wf(n):
        return dask_sum(n)

    result = ct.dispatch_sync(wf)(100)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == sum(range(100))


@ct.electron
def big(n):
    return b"x" * n


def test_large_outputs_live_outside_the_database(service_home) -> None:
    from covalent_ray._home import db_path, objects_dir

    @ct.lattice
    def wf(n):
        return big(n)

    before = db_path(service_home).stat().st_size
    result = ct.dispatch_sync(wf)(30_000_000)
    assert result.status == ct.status.COMPLETED
    assert len(result.result) == 30_000_000
    stored = [p for p in objects_dir(service_home).rglob("*") if p.is_file()]
    assert any(p.stat().st_size >= 30_000_000 for p in stored)
    # the database grew by far less than the object (its WAL is checkpointed lazily)
    after = db_path(service_home).stat().st_size
    assert after - before < 5_000_000
