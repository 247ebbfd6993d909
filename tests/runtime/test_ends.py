"""An electron's end stays on disk until the result manager acknowledges it, and a
resuming dispatcher waits for the processes that may still report, then finds the ends
never acknowledged (``runtime.ends``; the dispatcher's ``_gather_ends``). Without Ray."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from covalent_ray.runtime import ends, worker


def _event(dispatch_id: str, node_id: int, status: str = "COMPLETED") -> dict[str, Any]:
    return {"dispatch_id": dispatch_id, "node_id": node_id, "status": status, "attempt": 1}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "objects").mkdir()
    return tmp_path


def _journal(home: Path) -> ends.Journal:
    journal = ends.Journal(home / "ends")
    return journal


def test_an_end_is_kept_until_acknowledged_and_only_its_dispatch_finds_it(home: Path) -> None:
    journal = ends.journal(str(home / "objects"))
    assert journal is not None
    first = journal.append(_event("d1", 3))
    journal.append(_event("d1", 4, "FAILED"))
    journal.append(_event("d10", 1))  # another dispatch whose ID starts the same
    assert journal.path.stat().st_mode & 0o077 == 0  # private, as the home

    found = ends.left(home, "d1")
    assert [(e["node_id"], e["status"]) for e in found] == [(3, "COMPLETED"), (4, "FAILED")]
    journal.acknowledged(first)
    assert [e["node_id"] for e in ends.left(home, "d1")] == [4]
    assert [e["node_id"] for e in ends.left(home, "d10")] == [1]


def test_a_journal_is_emptied_once_everything_in_it_is_acknowledged(home: Path) -> None:
    journal = _journal(home)
    upto = [journal.append(_event("d5", n)) for n in range(3)]
    journal.acknowledged(upto[-1])
    assert journal.path.stat().st_size == 0
    # offsets handed out after emptying still acknowledge the right ends
    later = [journal.append(_event("d5", n)) for n in range(3, 6)]
    journal.acknowledged(later[0])
    assert [e["node_id"] for e in ends.left(home, "d5")] == [4, 5]


def test_a_long_journal_drops_its_acknowledged_part_and_keeps_the_rest(
    home: Path, monkeypatch
) -> None:
    monkeypatch.setattr(ends, "_COMPACT_BYTES", 2000)
    journal = _journal(home)
    upto = [journal.append({**_event("d6", n), "stdout": "x" * 100}) for n in range(60)]
    journal.acknowledged(upto[39])  # past the limit: rewritten without the first 40
    assert journal.path.stat().st_size < 25 * 200
    assert [e["node_id"] for e in ends.left(home, "d6")] == list(range(40, 60))
    journal.acknowledged(upto[49])  # offsets from before the rewrite still count
    assert [e["node_id"] for e in ends.left(home, "d6")] == list(range(50, 60))
    journal.acknowledged(upto[59])
    assert ends.left(home, "d6") == []


def test_an_end_given_up_on_stays_for_the_resume(home: Path) -> None:
    journal = _journal(home)
    first = journal.append(_event("d7", 1))
    journal.given_up()  # its report never reached the result manager
    second = journal.append(_event("d7", 2))
    journal.acknowledged(second)
    assert [e["node_id"] for e in ends.left(home, "d7")] == [1, 2]
    assert first < second


def test_without_the_services_objects_directory_nothing_is_kept(tmp_path: Path) -> None:
    # a worker on a machine that does not share the home: its ends travel only by report
    assert ends.journal(str(tmp_path / "elsewhere" / "objects")) is None
    assert ends.journal("") is None


def test_forget_drops_an_ended_dispatch_from_exited_workers_journals(
    home: Path, monkeypatch
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    monkeypatch.setattr(ends.os, "getpid", lambda: gone.pid)
    dead = _journal(home)
    dead.append(_event("d8", 1))
    dead.append(_event("d9", 1))
    monkeypatch.undo()
    # a running Ray worker: its journal is its own to empty
    worker_process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", "ray::run_node"],
        stdin=subprocess.PIPE,
    )
    try:
        monkeypatch.setattr(ends.os, "getpid", lambda: worker_process.pid)
        _journal(home).append(_event("d8", 2))
        monkeypatch.undo()
        ends.forget(home, {"d8"})
        assert [e["node_id"] for e in ends.left(home, "d8")] == [2]
        assert [e["node_id"] for e in ends.left(home, "d9")] == [1]
        ends.forget(home, {"d9"})
        assert not dead.path.exists()
        assert not list((home / "ends").glob(".*")), "no partial file is left behind"
    finally:
        worker_process.kill()
        worker_process.wait()


def test_the_resume_waits_for_the_process_that_kept_an_end(home: Path, monkeypatch) -> None:
    # a stand-in for a Ray worker still sending its end: alive until the test lets it go
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", "ray::run_node"],
        stdin=subprocess.PIPE,
    )
    try:
        monkeypatch.setattr(ends.os, "getpid", lambda: holder.pid)  # the journal names it
        _journal(home).append(_event("d2", 1))
        monkeypatch.undo()
        assert ends.holders(home, "d2") == {holder.pid}

        async def resume() -> set[int]:
            return await ends.wait_for_holders(home, "d2", timeout=600)

        waited: dict[str, set[int]] = {}
        waiting = threading.Thread(target=lambda: waited.update(still=asyncio.run(resume())))
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive(), "the resume went on while the worker could still report"
        assert holder.stdin is not None
        holder.stdin.close()  # the worker exits
        holder.wait(timeout=60)
        waiting.join(timeout=120)
        assert not waiting.is_alive() and waited["still"] == set()
        # what it never saw acknowledged is there for the resume to record
        assert [e["node_id"] for e in ends.left(home, "d2")] == [1]
    finally:
        holder.kill()
        holder.wait()


def test_a_process_that_is_not_rays_does_not_hold_a_dispatch(home: Path, monkeypatch) -> None:
    # the pid of a worker long gone, now used by an unrelated program
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        monkeypatch.setattr(ends.os, "getpid", lambda: other.pid)
        _journal(home).append(_event("d3", 1))
        monkeypatch.undo()
        assert ends.holders(home, "d3") == set()
    finally:
        other.kill()
        other.wait()


def test_the_reporter_acknowledges_an_end_only_once_the_manager_has_it(
    home: Path, monkeypatch
) -> None:
    answers = iter([True, False])  # the second batch is never acknowledged (gave up)
    sent: list[list[dict[str, Any]]] = []
    release = threading.Event()

    def send(self: Any, batch: list[dict[str, Any]]) -> bool:
        release.wait(timeout=60)
        sent.append(batch)
        return next(answers)

    monkeypatch.setattr(worker._Reporter, "_send", send)
    monkeypatch.setattr(worker, "_reporter", worker._Reporter())
    objects = str(home / "objects")
    worker.report_end(_event("d4", 1), objects)  # type: ignore[arg-type]
    assert [e["node_id"] for e in ends.left(home, "d4")] == [1], "kept while in flight"
    release.set()
    assert worker._reporter.flush(60)
    assert ends.left(home, "d4") == []  # acknowledged: gone from the journal

    worker.report_end(_event("d4", 2), objects)  # type: ignore[arg-type]
    assert worker._reporter.flush(60)
    assert [e["node_id"] for e in ends.left(home, "d4")] == [2], "never acknowledged: kept"
    assert [[e["node_id"] for e in b] for b in sent] == [[1], [2]]
