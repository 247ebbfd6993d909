"""``LocalExecutor``: each electron in a fresh Python subprocess, in its working directory.

The function and its inputs are cloudpickled to a task file; ``python -P -m
covalent_ray.executors._runner`` runs them with the working directory as its cwd and its
fds 1 and 2 sent to files, so whatever the electron, its C extensions or its own
subprocesses write is captured and reported through the task's
:class:`~covalent_ray.executors.base.TaskControl`. The output (or the exception with its
traceback text) comes back pickled.

The subprocess leads a new session (``start_new_session=True``), so cancelling kills
exactly its process group: the electron and whatever it started, nothing else.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._exceptions import ElectronTimeoutError, TaskCancelledError, TaskRuntimeError
from ..core.messages import electron_label, read_output
from .base import BaseExecutor, default_max_concurrency

EXECUTOR_PLUGIN_NAME = "LocalExecutor"
# Not imported here: ``python -m`` warns when the module it runs was imported already.
RUNNER_MODULE = "covalent_ray.executors._runner"
TASK_FILE = "task.pkl"  # what the runner reads (see _runner's docstring)
RESULT_FILE = "result.pkl"  # what it writes
TAIL = 2000  # characters of stderr quoted when the subprocess dies without a result

# Subprocesses this process started and has not reaped, by pid. Cancel checks here first,
# so a stale handle can never signal a process that merely reused the pid.
_live: dict[int, subprocess.Popen[bytes]] = {}
_live_lock = threading.Lock()


class RemoteTraceback(Exception):
    """The traceback of an exception raised in the subprocess, as text.

    Set as the ``__cause__`` of the re-raised exception, so printing it shows where the
    electron failed, as ``multiprocessing`` does.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n\n" + self.text.rstrip()


class LocalExecutor(BaseExecutor):
    """Run each electron in a new Python subprocess on the machine of its adaptor.

    ``workdir`` is the subprocess's working directory (default: config
    ``executors.local.workdir``, ``<home>/workdir``); with ``create_unique_workdir`` each
    electron gets ``<workdir>/<dispatch_id>/node_<node_id>``. Cancel kills the subprocess
    and its children. ``time_limit`` (seconds, > 0) kills it after that long.
    """

    max_concurrency = default_max_concurrency()
    captures_output = True

    def __init__(
        self,
        workdir: str = "",
        create_unique_workdir: bool | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if not workdir or create_unique_workdir is None:
            # raw_config: defaults and the file only; building a built-in executor must not
            # import every plugin.
            from .._config import raw_config

            settings = raw_config("executors.local", {})
            workdir = workdir or str(settings.get("workdir", ""))
            if create_unique_workdir is None:
                create_unique_workdir = bool(settings.get("create_unique_workdir", False))
        super().__init__(*args, **kwargs)
        self.workdir = str(workdir)
        self.create_unique_workdir = bool(create_unique_workdir)

    def task_workdir(self, task_metadata: dict[str, Any]) -> Path:
        """The working directory of one electron."""
        base = Path(self.workdir).expanduser()
        if self.create_unique_workdir:
            return (
                base
                / str(task_metadata.get("dispatch_id", ""))
                / (f"node_{task_metadata.get('node_id', '')}")
            )
        return base

    def run(
        self,
        function: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        task_metadata: dict[str, Any],
    ) -> Any:
        """Run the electron in a subprocess; return its output or re-raise its exception."""
        import cloudpickle

        from .. import _serialize

        label = electron_label(task_metadata)
        if self.get_cancel_requested():
            raise TaskCancelledError(f"{label} was cancelled before it started")
        cwd = self.task_workdir(task_metadata)
        cwd.mkdir(parents=True, exist_ok=True)
        _serialize.prepare(function)  # ship by value what the subprocess cannot import
        task_dir = Path(tempfile.mkdtemp(prefix="covalent-ray-local-", dir=self.cache_dir or None))
        try:
            task = {
                "sys_path": [os.path.abspath(p) if p == "" else p for p in sys.path],
                "context": _context_fields(task_metadata),
                "parent_pid": os.getpid(),
                "payload": _serialize.dumps(
                    (function, list(args), dict(kwargs)),
                    f"the function or inputs of {label}",
                ),
            }
            with open(task_dir / TASK_FILE, "wb") as f:
                pickle.dump(task, f, protocol=pickle.HIGHEST_PROTOCOL)
            del task
            returncode, timed_out = self._spawn_and_wait(task_dir, cwd)
            stdout = _read_text(task_dir / "stdout")
            stderr = _read_text(task_dir / "stderr")
            self.task_stdout.write(stdout)
            self.task_stderr.write(stderr)
            if self.get_cancel_requested():
                raise TaskCancelledError(f"{label} was cancelled")
            if timed_out:
                raise ElectronTimeoutError(
                    f"{label} ran past the LocalExecutor's time_limit of "
                    f"{self.time_limit}s and was killed"
                )
            result_file = task_dir / RESULT_FILE
            if not result_file.exists():
                raise TaskRuntimeError(
                    f"{label}: its subprocess exited with code {returncode} "
                    f"without a result (killed, crashed or os._exit). Last stderr:\n"
                    f"{stderr[-TAIL:]}"
                )
            outcome = cloudpickle.loads(result_file.read_bytes())
        finally:
            shutil.rmtree(task_dir, ignore_errors=True)
        if outcome[0] == "ok":
            return outcome[1]
        exc, text = outcome[1], outcome[2]
        if not isinstance(exc, Exception):  # sys.exit() in an electron must not stop the adaptor
            exc = TaskRuntimeError(f"{label} raised {exc!r}")
        if text:
            exc.__cause__ = RemoteTraceback(text)
        raise exc

    def _spawn_and_wait(self, task_dir: Path, cwd: Path) -> tuple[int, bool]:
        env = dict(os.environ, PYTHONUNBUFFERED="1")  # output survives a kill
        with open(task_dir / "stdout", "wb") as out, open(task_dir / "stderr", "wb") as err:
            proc = subprocess.Popen(
                # -P: do not put the cwd (a user's workdir) first on sys.path, where a file
                # named like a stdlib module would shadow it.
                [sys.executable, "-P", "-m", RUNNER_MODULE, str(task_dir)],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        with _live_lock:
            _live[proc.pid] = proc
        timed_out = False
        try:
            self.set_job_handle(proc.pid)
            # Handle first, flag second: see base.cancel_task for why no cancel is lost.
            if self.get_cancel_requested():
                _kill_group(proc)
            limit = float(self.time_limit) if self.time_limit and self.time_limit > 0 else None
            try:
                proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
                proc.wait()
        except BaseException:
            _kill_group(proc)  # never leave the electron running behind a failed wait
            proc.wait()
            raise
        finally:
            with _live_lock:
                _live.pop(proc.pid, None)
        return proc.returncode, timed_out

    def cancel(self, task_metadata: dict[str, Any], job_handle: Any) -> bool:
        """Kill the subprocess ``job_handle`` (a pid) and its process group."""
        try:
            pid = int(job_handle)
        except (TypeError, ValueError):
            return False
        with _live_lock:
            proc = _live.get(pid)
        if proc is not None:
            return _kill_group(proc)
        # Not started by this process (the handle came from elsewhere): signal it only if
        # it still is one of our runners.
        if not _is_runner(pid):
            return False
        try:
            os.killpg(pid, signal.SIGKILL)
            return True
        except (ProcessLookupError, PermissionError):
            return False


def _kill_group(proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        return False
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the pid leads its own group (new session)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _is_runner(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return RUNNER_MODULE.encode() in cmdline


def _read_text(path: Path) -> str:
    """A captured stream, cut at ``OUTPUT_LIMIT`` bytes (an electron may print gigabytes)."""
    try:
        with open(path, "rb") as f:
            return read_output(f)
    except FileNotFoundError:
        return ""


def _context_fields(task_metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The running electron's context, for ``ct.get_context()`` in the subprocess."""
    from dataclasses import asdict

    from ..core.context import current

    ctx = current.get()
    if ctx is not None:
        return asdict(ctx)
    if "dispatch_id" not in task_metadata or "node_id" not in task_metadata:
        return None
    return {
        "dispatch_id": str(task_metadata["dispatch_id"]),
        "node_id": int(task_metadata["node_id"]),
        "node_name": str(task_metadata.get("node_name", "")),
        "root_dispatch_id": str(
            task_metadata.get("root_dispatch_id", task_metadata["dispatch_id"])
        ),
    }
