"""Cancel, redispatch, retries and timeouts on the session's service."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import covalent_ray as ct
from covalent_ray._exceptions import CancelError

pytestmark = pytest.mark.usefixtures("service")


@ct.electron
def sleeping(x, seconds=3.0):
    time.sleep(seconds)
    return x


@ct.electron
def quick(x):
    return x + 1


def _wait_for_status(dispatch_id: str, node_id: int, status: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ct.get_result(dispatch_id).get_node_result(node_id)["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"node {node_id} never reached {status}")


def test_cancel_stops_running_and_pending_electrons() -> None:
    @ct.lattice
    def chain(x):
        return sleeping(sleeping(quick(x), 30), 30)

    dispatch_id = ct.dispatch(chain)(1)
    _wait_for_status(dispatch_id, 2, "RUNNING")
    started = time.monotonic()
    ct.cancel(dispatch_id)
    result = ct.get_result(dispatch_id, wait=True, timeout=30)
    assert time.monotonic() - started < 10  # far less than the 30 s electron
    assert result.status == ct.status.CANCELLED
    statuses = {
        n["node_id"]: n["status"] for n in result.get_all_node_results() if n["kind"] == "electron"
    }
    assert statuses == {0: "COMPLETED", 2: "CANCELLED", 4: "CANCELLED"}
    with pytest.raises(CancelError, match="already ended CANCELLED"):
        ct.cancel(dispatch_id)


def test_cancel_some_electrons_lets_the_rest_finish() -> None:
    @ct.lattice
    def two(x):
        return quick(sleeping(x, 30)), quick(sleeping(x, 1.0))

    dispatch_id = ct.dispatch(two)(1)
    _wait_for_status(dispatch_id, 0, "RUNNING")
    done = ct.cancel(dispatch_id, task_ids=[0])
    # nodes: 0 sleeping(30), 1-2 its parameters, 3 quick; 4 sleeping(1), 5-6, 7 quick
    assert sorted(done["cancelled"]) == [0, 3]  # the electron and its dependant
    result = ct.get_result(dispatch_id, wait=True, timeout=60)
    assert result.status == ct.status.CANCELLED
    by_id = {n["node_id"]: n for n in result.get_all_node_results()}
    assert by_id[0]["status"] == by_id[3]["status"] == "CANCELLED"
    assert by_id[4]["status"] == by_id[7]["status"] == "COMPLETED"
    assert by_id[7]["output"].get_deserialized() == 2


def test_cancel_unknown_dispatch() -> None:
    with pytest.raises(CancelError, match="no dispatch with ID 'missing'"):
        ct.cancel("missing")


def test_cancel_reaches_sublattices() -> None:
    @ct.lattice
    def inner(x):
        return sleeping(x, 30)

    @ct.lattice
    def outer(x):
        return quick(ct.electron(inner)(x))

    dispatch_id = ct.dispatch(outer)(1)
    _wait_for_status(dispatch_id, 0, "DISPATCHING")
    child_id = ct.get_result(dispatch_id).get_node_result(0)["sub_dispatch_id"]
    _wait_for_status(child_id, 0, "RUNNING")
    ct.cancel(dispatch_id)
    assert ct.get_result(dispatch_id, wait=True, timeout=30).status == ct.status.CANCELLED
    assert ct.get_result(child_id, wait=True, timeout=30).status == ct.status.CANCELLED


@ct.electron
def square(x):
    return x * x


@ct.electron
def add(a, b):
    return a + b


@ct.electron
def cube(x):
    return x**3


@ct.electron
def mult(a, b):
    return a * b


@ct.lattice
def square_of_sum(a, b):
    return square(add(a, b))


def test_redispatch_variants() -> None:
    base = ct.dispatch(square_of_sum)(2, 3)
    assert ct.get_result(base, wait=True).result == 25

    def rerun(*args, **options):
        return ct.get_result(ct.redispatch(base, **options)(*args), wait=True)

    assert rerun(replace_electrons={"square": cube}).result == 125
    assert rerun(replace_electrons={"add": mult}).result == 36
    assert rerun(2, 5, replace_electrons={"add": mult}).result == 100
    assert rerun(2, 5).result == 49
    reused = rerun(reuse_previous_results=True)
    assert reused.result == 25
    node = reused.get_node_result(0)
    assert node["reused_from"] == base
    assert node["start_time"] == node["end_time"]
    assert node["output"].get_deserialized() == 5


@ct.electron
def divide(x, y):
    return x / y


@ct.lattice
def ratio(x, y):
    return divide(x, y)


def test_redispatch_fixes_a_failed_dispatch() -> None:
    failed = ct.dispatch(ratio)(1, 0)
    assert ct.get_result(failed, wait=True).status == ct.status.FAILED
    fixed = ct.get_result(ct.redispatch(failed, reuse_previous_results=True)(1, 1), wait=True)
    assert fixed.status == ct.status.COMPLETED and fixed.result == 1


@ct.electron
def count_runs(path):
    runs = int(Path(path).read_text()) + 1 if Path(path).exists() else 1
    Path(path).write_text(str(runs))
    return runs


@ct.lattice
def counted(path):
    return count_runs(path)


def test_reuse_does_not_run_unchanged_electrons(tmp_path) -> None:
    path = str(tmp_path / "runs")
    first = ct.dispatch(counted)(path)
    assert ct.get_result(first, wait=True).result == 1
    again = ct.get_result(ct.redispatch(first, reuse_previous_results=True)(), wait=True)
    assert again.result == 1 and Path(path).read_text() == "1"


@ct.electron(retries=2, retry_delay=0.1)
def flaky(path):
    runs = int(Path(path).read_text()) if Path(path).exists() else 0
    Path(path).write_text(str(runs + 1))
    if runs < 2:
        raise ValueError(f"attempt {runs + 1} fails")
    return runs + 1


def test_retries_record_every_attempt(tmp_path) -> None:
    @ct.lattice
    def wf(p):
        return flaky(p)

    result = ct.dispatch_sync(wf)(str(tmp_path / "flaky"))
    assert result.status == ct.status.COMPLETED and result.result == 3
    node = result.get_node_result(0)
    assert node["attempt"] == 3
    attempts = node["attempts"]
    assert [a["status"] for a in attempts] == ["FAILED", "FAILED", "COMPLETED"]
    assert "attempt 1 fails" in attempts[0]["error"]
    assert all(a["start_time"] <= a["end_time"] for a in attempts)


def test_retries_exhausted_fail_the_electron(tmp_path) -> None:
    @ct.electron(retries=1)
    def always(x):
        raise RuntimeError("never works")

    @ct.lattice
    def wf():
        return always(1)

    node = ct.dispatch_sync(wf)().get_node_result(0)
    assert node["status"] == ct.status.FAILED and len(node["attempts"]) == 2


def test_timeout_stops_the_electron() -> None:
    @ct.electron(timeout=1)
    def hang():
        time.sleep(60)

    @ct.lattice
    def wf():
        return hang()

    started = time.monotonic()
    result = ct.dispatch_sync(wf)()
    assert time.monotonic() - started < 20
    assert result.status == ct.status.FAILED
    error = result.get_node_result(0)["error"]
    assert "ElectronTimeoutError" in error and "timeout of 1 s" in error


def test_cli_cancel_and_result() -> None:
    import subprocess
    import sys

    @ct.lattice
    def long(x):
        return sleeping(x, 30)

    dispatch_id = ct.dispatch(long)(1)
    _wait_for_status(dispatch_id, 0, "RUNNING")

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "covalent_ray.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = cli("cancel", dispatch_id)
    assert done.returncode == 0, done.stderr
    assert f"Cancelled dispatch {dispatch_id}" in done.stdout
    shown = cli("result", dispatch_id, "--wait", "--json")
    assert shown.returncode == 3, shown.stderr  # ended without completing
    import json

    assert json.loads(shown.stdout)["status"] == "CANCELLED"
    again = cli("cancel", dispatch_id)
    assert again.returncode == 1 and "already ended CANCELLED" in again.stderr


@ct.electron
def annotated(values: list[int], label: str = "sum") -> dict[str, int]:
    return {label: sum(values)}


@ct.lattice
def annotated_flow(values: list[int]) -> dict[str, int]:
    return annotated(values)


def test_reuse_works_for_annotated_electrons_and_unchanged_inputs() -> None:
    first = ct.dispatch(annotated_flow)([1, 2, 3])
    assert ct.get_result(first, wait=True).result == {"sum": 6}
    again = ct.get_result(ct.redispatch(first, reuse_previous_results=True)(), wait=True)
    assert again.result == {"sum": 6}
    assert again.get_node_result(0)["reused_from"] == first


@ct.electron
def big_bytes(n):
    return b"z" * n


def test_delete_removes_dispatch_children_and_unshared_objects(service_home) -> None:
    from covalent_ray._exceptions import DispatchNotFinishedError, MissingDispatchError
    from covalent_ray._home import objects_dir
    from covalent_ray.sdk.dispatch import delete

    @ct.lattice
    def inner(n):
        return big_bytes(n)

    @ct.electron
    def length(data):
        return len(data)

    @ct.lattice
    def outer(n):
        return length(ct.electron(inner)(n))

    def stored_files() -> set[Path]:
        return {p for p in objects_dir(service_home).rglob("*") if p.is_file()}

    keep = ct.dispatch(square_of_sum)(1, 2)  # shares nothing big, must survive
    before = stored_files()
    doomed = ct.dispatch_sync(outer)(3_000_000)
    assert doomed.result == 3_000_000
    child = doomed.get_node_result(0)["sub_dispatch_id"]
    big = [p for p in stored_files() - before if p.stat().st_size >= 3_000_000]
    assert big
    assert ct.get_result(keep, wait=True).result == 9

    running = ct.dispatch(chain_of_sleeps)(30)
    with pytest.raises(DispatchNotFinishedError, match="still running"):
        delete([running, doomed.dispatch_id])
    ct.cancel(running)
    ct.get_result(running, wait=True, timeout=60)

    assert sorted(delete(doomed.dispatch_id)) == sorted([doomed.dispatch_id, child])
    for gone in (doomed.dispatch_id, child):
        with pytest.raises(MissingDispatchError):
            ct.get_result(gone)
    assert not any(p.exists() for p in big)  # outputs only they used are removed
    again = ct.get_result(ct.redispatch(keep)(), wait=True)  # shared blobs are still there
    assert again.result == 9
    with pytest.raises(MissingDispatchError):
        delete(["no-such-dispatch"])


@ct.lattice
def chain_of_sleeps(seconds):
    return sleeping(1, seconds)
