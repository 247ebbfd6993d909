"""What a worker leaves on disk so that a resumed dispatch never runs an electron twice.

Two kinds of small files, one per electron:

- A *running marker* (in the Ray session directory of the node) names the worker process
  that runs an electron right now, and receives faulthandler's last words should that
  process die (see ``worker._last_words``). It goes when the electron returns.
- An *end* (in the service home's ``ends`` directory) holds an electron's final event
  (COMPLETED, FAILED or CANCELLED) from the moment the electron returns until the result
  manager has acknowledged that event.

Why: the events travel to the result manager from a thread of the worker. When the
dispatcher that owns a dispatch's tasks dies, Ray stops their workers (SIGTERM). A worker
that had just finished an electron may still be sending its end, or may be gone before
it was sent. The dispatcher that resumes the dispatch first waits for the processes named
by the markers and ends of that dispatch to exit (:func:`wait_for_holders`), then hands
the ends still on disk to the result manager (:func:`left`): only then does it read which
electrons must run again. Merging an end twice changes nothing, so handing over an end
the worker managed to send is harmless.

What remains: an end is written a few microseconds after the electron's function
returned; a process killed inside that window leaves no end, and the electron runs again
when its dispatch resumes. Ends are seen only on the machine of the service's home (or a
shared file system), as large outputs are.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import time
from pathlib import Path
from typing import Any

from .._home import ends_dir

_markers: Path | None = None


def running_marker(dispatch_id: str, node_id: int) -> Path | None:
    """The running marker of an electron on this node (None when Ray has no session here)."""
    global _markers
    if _markers is None:
        try:
            import ray

            session = ray._private.worker._global_node.get_session_dir_path()
            _markers = Path(session) / "covalent_ray_running"
            _markers.mkdir(exist_ok=True)
        except Exception:
            _markers = Path()
    return _markers / f"{dispatch_id}-{node_id}" if _markers != Path() else None


def _beside(objects_dir: str) -> Path | None:
    """The ``ends`` directory of the home whose ``objects`` directory is ``objects_dir``
    (as ``worker.NodeTask.objects_dir``), when this machine has it."""
    if not objects_dir or not os.path.isdir(objects_dir):
        return None
    return ends_dir(Path(objects_dir).parent)


def keep(objects_dir: str, event: dict[str, Any]) -> Path | None:
    """Write ``event`` (an electron's end) as its end file; None when it cannot be kept."""
    where = _beside(objects_dir)
    if where is None:
        return None
    path = where / f"{event['dispatch_id']}-{event['node_id']}"
    data = pickle.dumps({"pid": os.getpid(), "event": event}, protocol=pickle.HIGHEST_PROTOCOL)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        where.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(partial, path)  # a reader never sees half an end
    except OSError:
        return None
    return path


def release(path: Path) -> None:
    """The result manager acknowledged this end: forget it."""
    try:
        path.unlink()
    except OSError:
        pass


def _read(path: Path) -> dict[str, Any] | None:
    try:
        value = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return None  # acknowledged meanwhile
    except Exception:  # half-written by a version without os.replace, or damaged
        return None
    return value if isinstance(value, dict) else None


def _kept(home: Path, dispatch_id: str) -> list[tuple[Path, dict[str, Any]]]:
    where = ends_dir(home)
    found = []
    for path in sorted(where.glob(f"{dispatch_id}-*")) if where.is_dir() else []:
        value = _read(path)
        if value is not None and isinstance(value.get("event"), dict):
            found.append((path, value))
    return found


def left(home: Path, dispatch_id: str) -> list[tuple[Path, dict[str, Any]]]:
    """The ends of ``dispatch_id`` never acknowledged: (file, event), by node."""
    return [(path, value["event"]) for path, value in _kept(home, dispatch_id)]


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
    for _, value in _kept(home, dispatch_id):
        if isinstance(value.get("pid"), int):
            pids.add(value["pid"])
    marker = running_marker(dispatch_id, 0)
    if marker is not None:
        for path in marker.parent.glob(f"{dispatch_id}-*"):
            try:
                first = path.read_text(errors="replace").partition("\n")[0].split()
                pids.add(int(first[0]))
            except (OSError, ValueError, IndexError):
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
