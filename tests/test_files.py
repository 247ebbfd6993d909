"""Atomic file writes and the watch on a parent process (``_files``)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from covalent_ray._files import atomic_write, watch_parent


def test_atomic_write_replaces_the_file_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "service.json"
    atomic_write(target, "old")
    atomic_write(target, b"new bytes")
    assert target.read_bytes() == b"new bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["service.json"]


def test_watch_parent_acts_once_the_parent_is_not_ours_any_more() -> None:
    gone = threading.Event()
    watch_parent(os.getppid(), gone.set, interval=0.01)  # our parent: still here
    assert not gone.wait(0.2)
    # a parent pid that is not ours is what a re-parented process sees
    watch_parent(os.getppid() + 1_000_000, gone.set, interval=0.01)
    assert gone.wait(30)
