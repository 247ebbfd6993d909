"""The service's files as the CLI shows and removes them: its log (``logs``) and what
``purge`` deletes."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from .._home import db_path, logs_dir, objects_dir

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


def follow(path: Path, offset: int) -> Iterator[str]:
    """What is written to the file after ``offset``, as it comes, forever (a file that
    shrank was replaced: it is read again from the start)."""
    while True:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < offset:
            offset = 0
        if size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(size - offset)
            # hand out whole lines; a partial last line waits for its end
            cut = data.rfind(b"\n") + 1
            if cut:
                offset += cut
                yield data[:cut].decode(errors="replace")
                continue
        time.sleep(FOLLOW_INTERVAL_S)


def purge_plan(home: Path, hard: bool) -> list[Path]:
    """What ``covalent-ray purge`` deletes in ``home``: everything but the results (the
    database and stored objects), and with ``hard`` those too."""
    if not home.is_dir():
        return []
    results = {db_path(home).name, f"{db_path(home).name}.wal", objects_dir(home).name}
    return sorted(p for p in home.iterdir() if hard or p.name not in results)


def remove(paths: list[Path]) -> list[Path]:
    """Delete files and directory trees; returns those removed."""
    removed = []
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        if not p.exists():
            removed.append(p)
    return removed
