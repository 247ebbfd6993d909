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


def test_an_end_is_kept_until_released_and_only_its_dispatch_finds_it(home: Path) -> None:
    objects = str(home / "objects")
    first = ends.keep(objects, _event("d1", 3))
    ends.keep(objects, _event("d1", 4, "FAILED"))
    ends.keep(objects, _event("d10", 1))  # another dispatch whose ID starts the same
    assert first is not None and first.stat().st_mode & 0o077 == 0  # private, as the home

    found = ends.left(home, "d1")
    assert [(e["node_id"], e["status"]) for _, e in found] == [(3, "COMPLETED"), (4, "FAILED")]
    ends.release(first)
    assert [e["node_id"] for _, e in ends.left(home, "d1")] == [4]
    assert not list((home / "ends").glob(".*")), "no partial file is left behind"


def test_without_the_services_objects_directory_nothing_is_kept(tmp_path: Path) -> None:
    # a worker on a machine that does not share the home: its ends travel only by report
    assert ends.keep(str(tmp_path / "elsewhere" / "objects"), _event("d1", 0)) is None
    assert ends.keep("", _event("d1", 0)) is None


def test_the_resume_waits_for_the_process_that_kept_an_end(home: Path, monkeypatch) -> None:
    # a stand-in for a Ray worker still sending its end: alive until the test lets it go
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", "ray::run_node"],
        stdin=subprocess.PIPE,
    )
    try:
        monkeypatch.setattr(ends.os, "getpid", lambda: holder.pid)  # keep() names it
        ends.keep(str(home / "objects"), _event("d2", 1))
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
        assert [e["node_id"] for _, e in ends.left(home, "d2")] == [1]
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
        ends.keep(str(home / "objects"), _event("d3", 1))
        monkeypatch.undo()
        assert ends.holders(home, "d3") == set()
    finally:
        other.kill()
        other.wait()


def test_the_reporter_releases_an_end_only_once_it_is_acknowledged(home: Path, monkeypatch) -> None:
    answers = iter([False, True])  # the first batch is never acknowledged (gave up)
    sent: list[list[dict[str, Any]]] = []
    release = threading.Event()

    def send(self: Any, batch: list[dict[str, Any]]) -> bool:
        release.wait(timeout=60)
        sent.append(batch)
        return next(answers)

    monkeypatch.setattr(worker._Reporter, "_send", send)
    reporter = worker._Reporter()
    objects = str(home / "objects")
    path = ends.keep(objects, _event("d4", 1))
    reporter.put(_event("d4", 1), True, path)  # type: ignore[arg-type]
    assert path is not None and path.exists()
    release.set()
    assert reporter.flush(60)
    assert path.exists(), "an end never acknowledged must stay for the resume"

    second = ends.keep(objects, _event("d4", 2))
    reporter.put(_event("d4", 2), True, second)  # type: ignore[arg-type]
    assert reporter.flush(60)
    assert second is not None and not second.exists()
    assert [[e["node_id"] for e in b] for b in sent] == [[1], [2]]
