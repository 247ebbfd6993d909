"""Two file and process habits used in several places, written once.

- ``atomic_write``: write a file so that a reader sees the old file or the whole new one,
  never half of it (a temporary file beside it, then a rename).
- ``watch_parent``: a daemon thread that acts once this process's parent is gone (the
  process was re-parented), so helper processes never outlive what started them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) in one rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def watch_parent(parent_pid: int, on_gone: Callable[[], object], interval: float = 0.5) -> None:
    """Call ``on_gone`` (on a daemon thread) once the parent ``parent_pid`` has exited."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)  # polling the parent: no event exists for its exit
        on_gone()

    threading.Thread(target=watch, daemon=True, name="covalent-ray-watch-parent").start()
