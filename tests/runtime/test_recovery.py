"""Crashes of the service's actors while dispatches run (killed by PID, as a crash would)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import ray

import covalent_ray as ct
from covalent_ray.client.connect import connect

pytestmark = pytest.mark.usefixtures("service")


#: how long a test waits for the service to get somewhere before it fails (a deadline,
#: not a pace: on a quiet machine each wait ends within a second)
DEADLINE_S = 300.0


def _wait_for_file(path: Path, deadline_s: float = DEADLINE_S) -> None:
    """Block until ``path`` exists (run inside electrons: the test opens their gates)."""
    deadline = time.monotonic() + deadline_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {deadline_s:g} s")
        time.sleep(0.02)


@ct.electron
def step(x, path, gate):
    counter = Path(path)
    counter.write_text(str(int(counter.read_text()) + 1 if counter.exists() else 1))
    _wait_for_file(Path(gate))
    return x + 1


def _wait_completed(dispatch_id: str, node_ids: list[int], deadline_s: float = DEADLINE_S) -> None:
    """Wait until the database holds these electrons COMPLETED (fails at the deadline)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        result = ct.get_result(dispatch_id, intermediate_outputs=False)
        if all(result.get_node_result(n)["status"] == "COMPLETED" for n in node_ids):
            return
        time.sleep(0.05)
    raise AssertionError(f"nodes {node_ids} of {dispatch_id} did not complete in {deadline_s} s")


def test_dispatcher_crash_resumes_running_dispatches(tmp_path) -> None:
    @ct.lattice
    def chain(n):
        x = 0
        for i in range(n):
            x = step(x, str(tmp_path / f"runs{i}"), str(tmp_path / f"go{i}"))
        return x

    (tmp_path / "go0").touch()
    (tmp_path / "go1").touch()
    dispatch_id = ct.dispatch(chain)(4)
    electrons = [0, 4, 8, 12]  # each step adds itself and three parameter nodes
    _wait_completed(dispatch_id, electrons[:2])
    _wait_for_file(tmp_path / "runs2")  # the third step runs (held at its gate)
    dispatcher = connect().dispatcher
    pid = ray.get(dispatcher.pid.remote())
    os.kill(pid, signal.SIGKILL)
    (tmp_path / "go2").touch()
    (tmp_path / "go3").touch()
    result = ct.get_result(dispatch_id, wait=True, timeout=DEADLINE_S)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == 4
    # the electrons completed before the crash ran once; the rest ran after it
    assert (tmp_path / "runs0").read_text() == "1"
    assert (tmp_path / "runs1").read_text() == "1"
    assert ray.get(dispatcher.pid.remote()) != pid
    assert all(result.get_node_result(n)["status"] == "COMPLETED" for n in electrons)


def test_a_failure_before_the_crash_still_fails_the_resumed_dispatch(tmp_path) -> None:
    """A failed electron that nothing consumes is not run again on resume, and the
    dispatch still ends FAILED naming it (Covalent: any failed electron fails it)."""

    @ct.electron
    def broken():
        raise ValueError("broken before the crash")

    @ct.lattice
    def wf(path, gate):
        broken()  # a sink: no other electron takes its output
        return step(1, path, gate)

    gate = tmp_path / "go"
    dispatch_id = ct.dispatch(wf)(str(tmp_path / "runs"), str(gate))
    deadline = time.monotonic() + DEADLINE_S
    while (
        ct.get_result(dispatch_id, intermediate_outputs=False).get_node_result(0)["status"]
        != "FAILED"
    ):
        assert time.monotonic() < deadline, "broken() was not recorded FAILED"
        time.sleep(0.05)
    _wait_for_file(tmp_path / "runs")  # step runs, held at its gate
    os.kill(ray.get(connect().dispatcher.pid.remote()), signal.SIGKILL)
    gate.touch()
    result = ct.get_result(dispatch_id, wait=True, timeout=DEADLINE_S)
    assert result.status == ct.status.FAILED
    assert "broken" in result.error and "ValueError: broken before the crash" in result.error
    assert result.get_node_result(0)["status"] == "FAILED"


def test_result_manager_crash_loses_nothing(tmp_path) -> None:
    gate = tmp_path / "go"

    @ct.electron
    def work(i):
        if i > 0:
            _wait_for_file(gate)  # the rest run once the manager was killed
        print(f"log of {i}")
        return i * i

    @ct.electron
    def total(values):
        return sum(values)

    @ct.lattice
    def fan(n):
        first = work(0)  # node 0; the others start after it and wait at the gate
        rest = [ct.wait(work(i), [first]) for i in range(1, n)]
        return total([first, *rest])

    dispatch_id = ct.dispatch(fan)(16)
    _wait_completed(dispatch_id, [0])
    manager = connect().result_manager
    pid = ray.get(manager.pid.remote())
    os.kill(pid, signal.SIGKILL)
    gate.touch()
    result = ct.get_result(dispatch_id, wait=True, timeout=DEADLINE_S)
    assert ray.get(manager.pid.remote()) != pid
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == sum(i * i for i in range(16))
    works = [n for n in result.get_all_node_results() if n["node_name"] == "work"]
    assert len(works) == 16
    for n in works:
        assert n["status"] == "COMPLETED"
        value = n["output"].get_deserialized()
        assert n["stdout"] == f"log of {int(value**0.5)}\n"
    # the database agrees with itself after the crash: nothing left running
    assert not [n for n in result.get_all_node_results() if n["status"] == "RUNNING"]
    assert ct.get_result(dispatch_id, status_only=True)["status"] == "COMPLETED"
