"""The service's log file read as ``tail`` and ``tail -f`` do: its last lines, and what is
written after an offset (whole lines only). Shared by ``covalent-ray logs`` and the API's
``/logs`` routes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from ._home import logs_dir

#: How often ``follow`` looks for new lines when none have come (as ``tail -f`` does)
FOLLOW_INTERVAL_S = 0.25
_CHUNK = 64 * 1024


def service_log(home: Path) -> Path:
    """The log of the service process (its stdout and stderr)."""
    return logs_dir(home) / "service.log"


def tail(path: Path, lines: int) -> tuple[str, int]:
    """The last ``lines`` lines of the file (all of it for 0) and the offset after them."""
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        if lines <= 0:
            f.seek(0)
            return f.read().decode(errors="replace"), end
        # read backwards in chunks until enough line breaks are in hand
        start, data = end, b""
        while start > 0 and data.count(b"\n") <= lines:
            start = max(0, start - _CHUNK)
            f.seek(start)
            data = f.read(end - start)
    kept = data.splitlines(keepends=True)[-lines:]
    return b"".join(kept).decode(errors="replace"), end


def read_new(path: Path, offset: int, limit: int = 1024 * 1024) -> tuple[str, int]:
    """The whole lines written to the file after ``offset`` (at most about ``limit``
    bytes of them) and the offset after them; ``("", offset)`` when none is complete yet.
    A file that shrank was replaced: it is read again from the start."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "", 0
    if size < offset:
        offset = 0
    if size == offset:
        return "", offset
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(min(size - offset, limit))
    # hand out whole lines; a partial last line waits for its end
    cut = data.rfind(b"\n") + 1
    if not cut and len(data) >= limit:
        cut = len(data)  # one line longer than the limit goes out in pieces
    return data[:cut].decode(errors="replace"), offset + cut


def follow(path: Path, offset: int) -> Iterator[str]:
    """What is written to the file after ``offset``, as it comes, forever (a file that
    shrank was replaced: it is read again from the start)."""
    while True:
        text, offset = read_new(path, offset)
        if text:
            yield text
        else:
            time.sleep(FOLLOW_INTERVAL_S)
