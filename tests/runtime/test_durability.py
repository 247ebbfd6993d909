"""The database survives its only writer being killed (SIGKILL) again and again while
electrons report: every dispatch ends right, every acknowledged output is kept, and the
consistency rules hold."""

from __future__ import annotations

import os
import signal
import time

import pytest
import ray

import covalent_ray as ct
from covalent_ray.client.connect import connect
from covalent_ray.storage.consistency import check

pytestmark = pytest.mark.usefixtures("service")

KILLS = 10


@ct.electron
def square(i):
    time.sleep(0.05)  # the workload: keep electrons reporting while the writer is killed
    return i * i


@ct.electron
def add_up(values):
    return sum(values)


@ct.lattice
def durable_fan(n):
    return add_up([square(i) for i in range(n)])


def _restarted(manager, old_pid: int, timeout: float = 120) -> int:
    """The pid of the result manager once it answers again after ``old_pid`` died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid = ray.get(manager.pid.remote(), timeout=max(deadline - time.monotonic(), 1))
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            pid = old_pid
        if pid != old_pid:
            return pid
        assert time.monotonic() < deadline, "the result manager did not come back"


def test_writer_killed_ten_times_loses_nothing() -> None:
    manager = connect().result_manager
    pid = ray.get(manager.pid.remote())
    dispatch_ids, size = [], 40
    for _ in range(KILLS):
        # each round starts new work and kills the writer once its reports are flowing
        cursor = ray.get(manager.changes.remote(2**62, 0.0))["seq"]
        dispatch_ids.append(ct.dispatch(durable_fan)(size))
        news = ray.get(manager.changes.remote(cursor, 120.0), timeout=180)
        assert news["changes"], "no report reached the result manager"
        os.kill(pid, signal.SIGKILL)
        pid = _restarted(manager, pid)
    for d in dispatch_ids:
        result = ct.get_result(d, wait=True, timeout=300)
        assert result.status == ct.status.COMPLETED, (d, result.error)
        assert result.result == sum(i * i for i in range(size))
        outputs = {
            k: v for k, v in result.get_all_node_outputs().items() if k.startswith("square(")
        }
        lost = {
            k: result.get_node_result(int(k[7:-1]))["status"]
            for k, v in outputs.items()
            if v is None
        }
        assert not lost, f"outputs lost in dispatch {d}: {lost}"
        squares = [out.get_deserialized() for out in outputs.values()]
        assert sorted(squares) == [i * i for i in range(size)]  # every acknowledged output
    broken = check(lambda q: [tuple(r.values()) for r in ct.sql(q, max_rows=100)])
    assert broken == {}, broken
