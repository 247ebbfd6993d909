"""File-descriptor-level capture of an electron's stdout and stderr.

Redirecting fds 1 and 2 (not just ``sys.stdout``) also catches what subprocesses and C
extensions write. A Ray task worker runs one task at a time, so swapping the process's
descriptors for the duration of the task is safe there; actor adaptors that run several
electrons at once capture in a subprocess instead.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..core.messages import read_output


@dataclass
class Captured:
    """What an electron wrote."""

    stdout: str = ""
    stderr: str = ""


def _read(f: Any) -> str:
    if f.tell() == 0:
        return ""
    f.seek(0)
    return read_output(f)


_files: list[Any] = []  # one reusable pair per process: most tasks write nothing
_files_lock = threading.Lock()


@contextmanager
def _scratch() -> Iterator[tuple[Any, Any]]:
    if _files_lock.acquire(blocking=False):
        try:
            if not _files:
                _files.extend([tempfile.TemporaryFile(), tempfile.TemporaryFile()])
            for f in _files:
                f.seek(0)
                f.truncate()
            yield _files[0], _files[1]
        finally:
            _files_lock.release()
    else:
        with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
            yield out_f, err_f


@contextmanager
def capture_fds() -> Iterator[Captured]:
    """Send fds 1 and 2 to temporary files while the block runs; fill in the result."""
    result = Captured()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    with _scratch() as (out_f, err_f):
        saved = os.dup(1), os.dup(2)
        os.dup2(out_f.fileno(), 1)
        os.dup2(err_f.fileno(), 2)
        try:
            yield result
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            result.stdout = _read(out_f)
            result.stderr = _read(err_f)
