"""An electron whose worker process dies runs as often as its ``retries`` say, and fails
with an error naming it and how its process ended."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

import covalent_ray as ct

pytestmark = pytest.mark.usefixtures("service")

DEADLINE_S = 300.0


def _count(path: str) -> int:
    counter = Path(path)
    runs = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(runs))
    return runs


@ct.electron
def exits(path, code):
    _count(path)
    os._exit(code)


@ct.electron
def segfaults(path):
    _count(path)
    os.kill(os.getpid(), signal.SIGSEGV)


@ct.electron(retries=1)
def killed_once(path):
    if _count(path) == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return 7


@ct.electron
def calls_sys_exit(path):
    _count(path)
    sys.exit(2)


@ct.electron
def after(x):
    return x


def test_a_worker_exit_fails_the_electron_once_naming_its_exit_code(tmp_path) -> None:
    @ct.lattice
    def flow(path):
        return after(exits(path, 3))

    runs = tmp_path / "runs"
    result = ct.get_result(ct.dispatch(flow)(str(runs)), wait=True, timeout=DEADLINE_S)
    assert result.status == ct.status.FAILED
    assert runs.read_text() == "1"  # Ray's own retries are off: it ran once
    node = result.get_node_result(0)
    assert node["status"] == "FAILED"
    assert "'exits'" in node["error"] and "exit code 3" in node["error"], node["error"]
    assert "exit code 3" in result.error and "'exits'" in result.error, result.error
    assert "Ray failed" not in result.error
    assert [a["status"] for a in node["attempts"]] == ["FAILED"]
    assert "exit code 3" in node["attempts"][0]["error"]
    downstream = [n for n in result.get_all_node_results() if n["node_name"] == "after"]
    assert [n["status"] for n in downstream] == ["NEW_OBJECT"]


def test_a_segfault_fails_the_electron_naming_the_signal(tmp_path) -> None:
    @ct.lattice
    def flow(path):
        return segfaults(path)

    runs = tmp_path / "runs"
    result = ct.get_result(ct.dispatch(flow)(str(runs)), wait=True, timeout=DEADLINE_S)
    assert result.status == ct.status.FAILED
    assert runs.read_text() == "1"
    node = result.get_node_result(0)
    assert node["status"] == "FAILED"
    assert "'segfaults'" in node["error"] and "SIGSEGV" in node["error"], node["error"]
    assert "worker process" in result.error
    assert len(node["attempts"]) == 1


def test_retries_after_a_worker_death_follow_the_electrons_retries(tmp_path) -> None:
    @ct.lattice
    def flow(path):
        return killed_once(path)

    runs = tmp_path / "runs"
    result = ct.get_result(ct.dispatch(flow)(str(runs)), wait=True, timeout=DEADLINE_S)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == 7
    assert runs.read_text() == "2"  # one death, one retry
    node = result.get_node_result(0)
    assert [a["status"] for a in node["attempts"]] == ["FAILED", "COMPLETED"]
    assert "died" in node["attempts"][0]["error"]
    assert node["attempts"][1]["worker_pid"] == node["worker_pid"]


def test_sys_exit_fails_the_electron_without_ending_its_worker(tmp_path) -> None:
    @ct.lattice
    def flow(path):
        return calls_sys_exit(path)

    runs = tmp_path / "runs"
    result = ct.get_result(ct.dispatch(flow)(str(runs)), wait=True, timeout=DEADLINE_S)
    assert result.status == ct.status.FAILED
    assert runs.read_text() == "1"
    assert "called sys.exit(2)" in result.get_node_result(0)["error"]
