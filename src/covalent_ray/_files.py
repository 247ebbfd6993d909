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


def atomic_write(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) in one rename; ``mode``
    sets the file's permissions whatever the umask (from its creation on)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        if mode is None:
            tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        else:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), mode)
                f.write(data.encode() if isinstance(data, str) else data)
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
