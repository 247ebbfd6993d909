"""What a worker leaves on disk so that a resumed dispatch never runs an electron twice.

Two small files per worker *process* (never one per electron: an electron costs a few
system calls on files already open, not a file's creation and removal):

- Its *running marker* (in the Ray session directory of the node, named by the pid)
  holds, while an electron runs there, one line ``pid attempt dispatch_id node_id``,
  and receives faulthandler's last words should the process die (see
  ``worker._last_words``). It is emptied when the electron returns.
- Its *journal* (in the service home's ``ends`` directory, ``<pid>.<nonce>``) gets every
  electron end (the COMPLETED, FAILED or CANCELLED event) appended as the electron
  returns; its header says up to where the result manager has acknowledged them. Once
  it has acknowledged every end appended so far, the journal is emptied. An end whose
  report was given up on stays for good (see :class:`Journal`).

Why: the events travel to the result manager from a thread of the worker. When the
dispatcher that owns a dispatch's tasks dies, Ray stops their workers (SIGTERM). A worker
that had just finished an electron may still be sending its end, or may be gone before
it was sent. The dispatcher that resumes the dispatch first waits for the processes that
hold an electron of that dispatch (a running marker or an end in a journal) to exit
(:func:`wait_for_holders`), then hands the ends it finds (:func:`left`) to the result
manager: only then does it read which electrons must run again. Merging an end twice
changes nothing, so handing over an end the worker managed to send is harmless. Once a
dispatch has ended, :func:`forget` drops its ends from the journals of processes that
have exited.

What remains: an end is appended a few microseconds after the electron's function
returned; a process killed inside that window leaves no end, and the electron runs again
when its dispatch resumes. Ends are seen only on the machine of the service's home (or a
shared file system), as large outputs are.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._home import ends_dir

_HEADER = struct.Struct("<I")

# -- running markers ---------------------------------------------------------------------

_markers: str | None = None  # the markers directory of this node ("" when none)


def markers_dir() -> str:
    """The running markers' directory on this node ("" when Ray has no session here)."""
    global _markers
    if _markers is None:
        try:
            import ray

            session = ray._private.worker._global_node.get_session_dir_path()
            path = os.path.join(session, "covalent_ray_running")
            os.makedirs(path, exist_ok=True)
            _markers = path
        except Exception:
            _markers = ""
    return _markers


class RunningMarker:
    """This process's running marker: which electron runs here now (see module doc)."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, str(os.getpid()))
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    def start(self, dispatch_id: str, node_id: int, attempt: int) -> None:
        """Name the electron that starts now (faulthandler writes after this line)."""
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()} {attempt} {dispatch_id} {node_id}\n".encode())

    def clear(self) -> None:
        """The electron returned: nothing runs here."""
        os.ftruncate(self.fd, 0)


_marker: RunningMarker | None = None
_marker_pid = 0


def running_marker() -> RunningMarker | None:
    """This process's running marker (None when Ray has no session directory here)."""
    global _marker, _marker_pid
    if _marker is None or _marker_pid != os.getpid():
        directory = markers_dir()
        if not directory:
            return None
        try:
            _marker, _marker_pid = RunningMarker(directory), os.getpid()
        except OSError:
            return None
    return _marker


def _markers_naming(dispatch_id: str) -> Iterator[tuple[Path, str, str]]:
    """(file, first line, the rest) of the markers on this node that name ``dispatch_id``."""
    directory = markers_dir()
    if not directory:
        return
    for entry in os.scandir(directory):
        try:
            if entry.stat().st_size == 0:
                continue
            text = Path(entry.path).read_text(errors="replace")
        except OSError:
            continue
        first, _, rest = text.partition("\n")
        words = first.split()
        if len(words) == 4 and words[2] == dispatch_id:
            yield Path(entry.path), first, rest


def last_words(dispatch_id: str, node_id: int) -> tuple[int, int, str] | None:
    """(pid, attempt, what faulthandler wrote) of the process that died running this
    electron, from its running marker on this node; the marker is emptied (read once)."""
    for path, first, rest in _markers_naming(dispatch_id):
        pid, attempt, _, node = first.split()
        if node != str(node_id):
            continue
        try:
            if not alive(int(pid)):
                os.truncate(path, 0)
            return int(pid), int(attempt), rest
        except (OSError, ValueError):
            return None
    return None


# -- journals ----------------------------------------------------------------------------

#: a journal starts with the offset up to which its ends are acknowledged (8 bytes); each
#: record is its length (4 bytes) and the pickled event
_ACKED = struct.Struct("<Q")
_START = _ACKED.size
#: a journal whose acknowledged part grows past this is rewritten without it
_COMPACT_BYTES = 1 << 20


class Journal:
    """This process's journal of electron ends in one ``ends`` directory.

    Ends are appended and acknowledged in the same order (the worker's reporter sends
    them in order, one batch at a time), so the acknowledged ends are always a prefix of
    the journal: its header says where that prefix ends. Once everything is acknowledged
    the file is emptied. A batch given up on stops the prefix for good: what follows it
    stays unacknowledged on disk, for a resume to record (twice is harmless).
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, exist_ok=True)
        # the nonce: a later process with the same pid never empties this one's journal
        self.path = directory / f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        #: held by whoever appends an end and queues its report, so both keep one order
        self.lock = threading.RLock()
        self._size = 0  # bytes in the file
        self._acked = _START  # where its acknowledged prefix ends
        # offsets handed out are logical: ``_base`` + the position in today's file, so
        # they stay right after the file is emptied or rewritten
        self._base = 0
        self._stuck = False

    def append(self, event: dict[str, Any]) -> int:
        """Add an electron's end; returns where it ends (to acknowledge it with)."""
        data = pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL)
        with self.lock:
            if self._size == 0:
                os.pwrite(self.fd, _ACKED.pack(_START), 0)
                self._size = _START
            os.pwrite(self.fd, _HEADER.pack(len(data)) + data, self._size)
            self._size += _HEADER.size + len(data)
            return self._base + self._size

    def acknowledged(self, upto: int) -> None:
        """Every end up to ``upto`` (as :meth:`append` returned) reached the result
        manager."""
        with self.lock:
            position = upto - self._base
            if self._stuck or position <= self._acked:
                return
            self._acked = position
            if self._acked >= self._size:
                os.ftruncate(self.fd, 0)
                self._base += self._size
                self._size, self._acked = 0, _START
            elif self._acked > _COMPACT_BYTES:
                self._compact()
            else:
                os.pwrite(self.fd, _ACKED.pack(self._acked), 0)

    def given_up(self) -> None:
        """A batch of ends was never acknowledged: keep everything from it on."""
        with self.lock:
            self._stuck = True

    def _compact(self) -> None:
        """Rewrite the file without its acknowledged prefix."""
        tail = os.pread(self.fd, self._size - self._acked, self._acked)
        partial = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.pwrite(fd, _ACKED.pack(_START) + tail, 0)
        os.replace(partial, self.path)
        os.close(self.fd)
        self._base += self._acked - _START
        self.fd, self._size, self._acked = fd, _START + len(tail), _START


_journals: dict[str, Journal] = {}
_journals_lock = threading.Lock()
_journals_pid = 0


def journal(objects_dir: str) -> Journal | None:
    """This process's journal beside the home whose ``objects`` directory is
    ``objects_dir`` (as ``worker.NodeTask.objects_dir``); None when this machine does
    not have that home."""
    global _journals_pid
    found = _journals.get(objects_dir)
    if found is not None and _journals_pid == os.getpid():
        return found
    if not objects_dir or not os.path.isdir(objects_dir):
        return None
    with _journals_lock:
        if _journals_pid != os.getpid():  # a forked child keeps none of its parent's
            _journals.clear()
            _journals_pid = os.getpid()
        found = _journals.get(objects_dir)
        if found is None:
            try:
                found = Journal(ends_dir(Path(objects_dir).parent))
            except OSError:
                return None
            _journals[objects_dir] = found
    return found


def _unacknowledged(data: bytes) -> Iterator[dict[str, Any]]:
    """The records of a journal past its acknowledged prefix."""
    if len(data) < _START:
        return
    (pos,) = _ACKED.unpack_from(data, 0)
    while pos + _HEADER.size <= len(data):
        (size,) = _HEADER.unpack_from(data, pos)
        pos += _HEADER.size
        if pos + size > len(data):
            return  # cut short by a crash inside the write
        try:
            value = pickle.loads(data[pos : pos + size])
        except Exception:
            value = None
        pos += size
        if isinstance(value, dict):
            yield value


def _journal_pid(path: Path) -> int | None:
    try:
        return int(path.name.partition(".")[0])
    except ValueError:
        return None


def _journals_in(home: Path, dead_only: bool = False) -> Iterator[tuple[Path, bytes]]:
    """(file, contents) of the non-empty journals in ``home`` (of exited processes)."""
    where = ends_dir(home)
    if not where.is_dir():
        return
    for entry in os.scandir(where):
        if entry.name.startswith("."):
            continue
        try:
            if entry.stat().st_size <= _START:
                continue
            if dead_only and (pid := _journal_pid(Path(entry.path))) is not None and alive(pid):
                continue
            yield Path(entry.path), Path(entry.path).read_bytes()
        except OSError:
            continue


def left(home: Path, dispatch_id: str) -> list[dict[str, Any]]:
    """The ends of ``dispatch_id`` never acknowledged, by node."""
    found = [
        event
        for _, data in _journals_in(home)
        for event in _unacknowledged(data)
        if event.get("dispatch_id") == dispatch_id
    ]
    return sorted(found, key=lambda e: int(e.get("node_id", 0)))


def forget(home: Path, dispatch_ids: set[str]) -> None:
    """These dispatches have ended (or their ends are recorded): drop their ends from the
    journals of processes that have exited; remove such journals once nothing is left.
    (A live process empties its own journal as its ends are acknowledged.)"""
    for path, data in _journals_in(home, dead_only=True):
        rest = [r for r in _unacknowledged(data) if r.get("dispatch_id") not in dispatch_ids]
        try:
            if not rest:
                path.unlink()
                continue
            partial = path.with_name(f".{path.name}.tmp")
            records = [pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL) for r in rest]
            blob = b"".join(_HEADER.pack(len(r)) + r for r in records)
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, _ACKED.pack(_START) + blob)
            finally:
                os.close(fd)
            os.replace(partial, path)
        except OSError:
            continue


def alive(pid: int) -> bool:
    """Whether Ray process ``pid`` runs on this machine (a zombie counts as ended, and so
    does a process that is not Ray's: the pid of a long-gone worker, used again)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not one of our workers
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the signal
    return stat.rpartition(")")[2].split()[:1] != ["Z"] and b"ray" in command


def holders(home: Path, dispatch_id: str) -> set[int]:
    """Processes that ran an electron of ``dispatch_id`` and may still report on it."""
    pids: set[int] = set()
    for path, data in _journals_in(home):
        pid = _journal_pid(path)
        if pid is not None and any(
            r.get("dispatch_id") == dispatch_id for r in _unacknowledged(data)
        ):
            pids.add(pid)
    for _, first, _ in _markers_naming(dispatch_id):
        try:
            pids.add(int(first.split()[0]))
        except ValueError:
            continue
    pids.discard(os.getpid())
    return {pid for pid in pids if alive(pid)}


async def wait_for_holders(home: Path, dispatch_id: str, timeout: float) -> set[int]:
    """Wait until no process holds an electron of ``dispatch_id`` (Ray stops the workers
    of a dead dispatcher); return those still alive at ``timeout``."""
    deadline = time.monotonic() + timeout
    pids = holders(home, dispatch_id)
    while pids and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        pids = {pid for pid in pids if alive(pid)}
    return pids
