"""``SSHExecutor``: each electron runs on a remote host, in that host's Python, over SSH.

How one electron runs (one SSH channel on the adaptor's pooled connection):

1. Once per connection, the runner (``_remote_runner.py``, Python and cloudpickle only)
   is uploaded to ``remote_cache`` and the remote Python is checked: same minor version
   as ours and cloudpickle installed, or the electron fails saying which is wrong.
2. The function and its inputs, cloudpickled with covalent-ray's own code by value (the
   remote needs no covalent-ray), are written to ``<remote_cache>/<task>/task.pkl``; the
   runner starts in its own session (``setsid``) with the electron's working directory
   as cwd and its fds 1 and 2 sent to files there. Its pid is the job handle.
3. When it exits, the same channel sends back ``result.pkl`` (the output, or the
   exception with its traceback) and the stdout and stderr files. The task directories
   are removed at ``teardown`` (unless ``do_cleanup=False``), once the adaptor has had
   every outcome acknowledged by the result manager: an adaptor that dies between
   receiving a result and its record (its dispatcher was killed) leaves the directory,
   and the resumed electron finds its result there instead of running again.

The runner does not depend on the SSH session: if the connection drops, the executor
reconnects (``max_connection_attempts``) and waits for the same process by its pid. Cancel
(and a timeout) kills the runner's process group on the remote host.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._exceptions import (
    ExecutorError,
    RemoteHostError,
    TaskCancelledError,
    TaskRuntimeError,
)
from ..core.messages import OUTPUT_LIMIT, electron_label
from ._ssh import Connection, Target, quote, require_asyncssh
from .base import AsyncBaseExecutor

EXECUTOR_PLUGIN_NAME = "SSHExecutor"
_EXECUTOR_PLUGIN_DEFAULTS: dict[str, Any] = {
    "username": "",
    "hostname": "",
    "ssh_key_file": "",
    "python_path": "python3",
    "conda_env": "",
    "remote_cache": ".cache/covalent-ray",
    "remote_workdir": "covalent-workdir",
    "create_unique_workdir": False,
    "run_local_on_ssh_fail": False,
}
TAIL = 2000  # characters of stderr quoted when the runner dies without a result
RUNNER_SOURCE = Path(__file__).with_name("_remote_runner.py")


def _settings() -> dict[str, Any]:
    from .._config import raw_config

    value = raw_config("executors.ssh", {})
    return value if isinstance(value, dict) else {}


class RemotePython:
    """The remote side of one connection: its home, the uploaded runner, Python's version."""

    def __init__(self, home: str, runner: str, version: str, cloudpickle: str) -> None:
        self.home = home
        self.runner = runner
        self.version = version
        self.cloudpickle = cloudpickle

    def absolute(self, path: str) -> str:
        """``path`` on the remote host, relative ones under the login's home directory."""
        if path.startswith("/"):
            return path
        if path.startswith("~/"):
            path = path[2:]
        return f"{self.home.rstrip('/')}/{path}" if path else self.home


async def prepare_remote(conn: Any, python: str, remote_cache: str, where: str) -> RemotePython:
    """Upload the runner and check the remote Python (once per connection and Python).

    ``conn`` is a :class:`~._ssh.Connection` or anything with its ``run`` and ``target``.
    Electrons that start together share one check; a failed check is tried again by the
    next electron.
    """
    key = (python, remote_cache, id(asyncio.get_running_loop()))
    checks: dict[Any, asyncio.Future[RemotePython]] = conn.__dict__.setdefault("_remote_python", {})
    check = checks.get(key)
    if check is None or (check.done() and (check.cancelled() or check.exception())):
        check = asyncio.ensure_future(_probe_remote(conn, python, remote_cache))
        checks[key] = check
    try:
        return await asyncio.shield(check)
    except (ExecutorError, RemoteHostError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


async def _probe_remote(conn: Any, python: str, remote_cache: str) -> RemotePython:
    source = RUNNER_SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:12]
    cache = quote(remote_cache or ".")
    runner = f"covalent_ray_runner_{digest}.py"
    probe = (
        "import sys; print('%d.%d' % sys.version_info[:2]); import cloudpickle; "
        "print(cloudpickle.__version__)"
    )
    command = (
        f"pwd && mkdir -p {cache} && cd {cache} && cat > {runner}.$$.tmp && "
        f"mv {runner}.$$.tmp {runner} && {python} -c {quote(probe)}"
    )
    status, out, err = await conn.run(command, source)
    lines = [line.strip() for line in out.decode(errors="replace").splitlines() if line.strip()]
    ours = f"{sys.version_info[0]}.{sys.version_info[1]}"
    errors = err.decode(errors="replace").strip()
    if status == 127 or (status != 0 and len(lines) < 2):
        raise ExecutorError(
            f"no Python runs as python_path={python!r} on {conn.target.label()} "
            f"({errors[-TAIL:] or f'exit {status}'}); set python_path (or conda_env) to a "
            f"Python {ours} with cloudpickle installed"
        )
    if len(lines) >= 2 and lines[1] != ours:
        raise ExecutorError(
            f"the remote Python ({python!r} on {conn.target.label()}) is {lines[1]}, "
            f"ours is {ours}: pickled functions need the same minor version; set python_path "
            f"(or conda_env) to a Python {ours}"
        )
    if status != 0 or len(lines) < 3:
        import cloudpickle

        raise ExecutorError(
            f"the remote Python ({python!r} on {conn.target.label()}) has no "
            f"cloudpickle: install it there (pip install cloudpickle=={cloudpickle.__version__})"
        )
    import cloudpickle

    theirs = lines[2]
    if theirs.split(".")[0] != cloudpickle.__version__.split(".")[0]:
        raise ExecutorError(
            f"the remote cloudpickle ({theirs}, {python!r} on "
            f"{conn.target.label()}) cannot read what ours ({cloudpickle.__version__}) "
            f"writes: install cloudpickle=={cloudpickle.__version__} there"
        )
    home = lines[0]
    remote = RemotePython(home, "", lines[1], theirs)
    remote.runner = f"{remote.absolute(remote_cache)}/{runner}"
    return remote


async def _line_starting(stream: Any, word: str) -> list[str]:
    """The words of the next line that starts with ``word`` (login scripts may print first)."""
    for _ in range(1000):
        raw = await stream.readline()
        if not raw:
            return []
        words = raw.decode(errors="replace").split()
        if words and words[0] == word:
            return words
    return []


def emit_files_script(task_dir: str) -> str:
    """Shell that writes ``result.pkl``, ``stdout`` and ``stderr`` of a task, framed.

    Each file comes as a line ``<name> <size>`` and then that many bytes (``-1``: missing);
    the streams are cut at ``OUTPUT_LIMIT`` bytes.
    """
    td = quote(task_dir)
    return (
        f"for f in result.pkl stdout stderr; do p={td}/$f; "
        'if [ -f "$p" ]; then n=$(($(wc -c < "$p"))); '
        f'if [ "$f" != result.pkl ] && [ "$n" -gt {OUTPUT_LIMIT} ]; then n={OUTPUT_LIMIT}; fi; '
        'echo "$f $n"; head -c "$n" "$p"; else echo "$f -1"; fi; done'
    )


async def read_files(stream: Any) -> dict[str, bytes]:
    """Read what :func:`emit_files_script` wrote from an asyncssh byte stream."""
    files: dict[str, bytes] = {}
    for _ in range(3):
        header = await stream.readline()
        if not header:
            break
        name, _, size = header.decode(errors="replace").strip().partition(" ")
        n = int(size)
        if n >= 0:
            files[name] = await stream.readexactly(n) if n else b""
    return files


def parse_files(data: bytes) -> dict[str, bytes]:
    """:func:`read_files` over bytes already received."""
    files: dict[str, bytes] = {}
    pos = 0
    for _ in range(3):
        end = data.find(b"\n", pos)
        if end < 0:
            break
        name, _, size = data[pos:end].decode(errors="replace").strip().partition(" ")
        pos = end + 1
        n = int(size)
        if n >= 0:
            files[name] = data[pos : pos + n]
            pos += n
    return files


def _text(data: bytes | None) -> str:
    if not data:
        return ""
    text = data.decode("utf-8", errors="replace")
    if len(data) >= OUTPUT_LIMIT:
        text += f"\n[output truncated after {OUTPUT_LIMIT} bytes]"
    return text


def outcome_of(files: dict[str, bytes], where: str, status: str) -> Any:
    """The electron's output from its ``result.pkl``, or raise its exception."""
    import cloudpickle

    from .local import RemoteTraceback

    data = files.get("result.pkl")
    if data is None:
        stderr = _text(files.get("stderr"))
        raise TaskRuntimeError(
            f"{where}: the remote process ended ({status}) without a result (killed, "
            f"crashed or os._exit). Last stderr:\n{stderr[-TAIL:]}"
        )
    outcome = cloudpickle.loads(data)
    if outcome[0] == "ok":
        return outcome[1]
    exc, text = outcome[1], outcome[2]
    if not isinstance(exc, Exception):  # sys.exit() in an electron must not stop the adaptor
        exc = TaskRuntimeError(f"{where} raised {exc!r}")
    if text:
        exc.__cause__ = RemoteTraceback(text)
    raise exc


class SSHExecutor(AsyncBaseExecutor):
    """Run each electron on ``hostname`` over SSH, with the remote host's Python.

    Covalent's SSH plugin arguments: ``username``, ``hostname``, ``ssh_key_file``,
    ``python_path`` (default ``python3``), ``conda_env`` (run through ``conda run -n``),
    ``remote_cache`` (where task files go), ``remote_workdir`` (the electron's cwd; with
    ``create_unique_workdir``, ``<remote_workdir>/<dispatch_id>/node_<id>``),
    ``poll_freq`` (seconds between checks while reconnecting to a running job),
    ``do_cleanup``, ``retry_connect``, ``max_connection_attempts``, ``retry_wait_time``,
    ``run_local_on_ssh_fail`` (run in a local subprocess when the host cannot be reached),
    plus ``port`` (default 22, or ``~/.ssh/config``'s) and ``known_hosts`` (a known-hosts
    file other than ``~/.ssh/known_hosts``) and ``max_sessions`` (the server's
    ``MaxSessions``, 10 by default: more concurrent electrons open another connection).
    Unset ones come from config
    ``[executors.ssh]``.
    """

    captures_output = True
    max_concurrency = 64

    def __init__(
        self,
        username: str = "",
        hostname: str = "",
        ssh_key_file: str = "",
        cache_dir: str = "",
        python_path: str = "",
        conda_env: str = "",
        remote_cache: str = "",
        run_local_on_ssh_fail: bool | None = None,
        remote_workdir: str = "",
        create_unique_workdir: bool | None = None,
        poll_freq: float = 15,
        do_cleanup: bool = True,
        retry_connect: bool = True,
        max_connection_attempts: int = 5,
        retry_wait_time: float = 5,
        port: int | None = None,
        known_hosts: str = "",
        max_sessions: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(cache_dir=cache_dir, **kwargs)
        cfg = {**_EXECUTOR_PLUGIN_DEFAULTS, **_settings()}
        self.username = username or str(cfg.get("username") or "")
        self.hostname = hostname or str(cfg.get("hostname") or "")
        self.port = int(port or cfg.get("port") or 0) or None
        self.ssh_key_file = ssh_key_file or str(cfg.get("ssh_key_file") or "")
        self.known_hosts = known_hosts or str(cfg.get("known_hosts") or "")
        self.python_path = python_path or str(cfg.get("python_path") or "python3")
        self.conda_env = conda_env or str(cfg.get("conda_env") or "")
        self.remote_cache = remote_cache or str(cfg.get("remote_cache") or ".cache/covalent-ray")
        self.remote_workdir = remote_workdir or str(cfg.get("remote_workdir") or "")
        self.create_unique_workdir = bool(
            cfg.get("create_unique_workdir")
            if create_unique_workdir is None
            else create_unique_workdir
        )
        self.run_local_on_ssh_fail = bool(
            cfg.get("run_local_on_ssh_fail")
            if run_local_on_ssh_fail is None
            else run_local_on_ssh_fail
        )
        self.poll_freq = float(poll_freq)
        self.do_cleanup = bool(do_cleanup)
        self.retry_connect = bool(retry_connect)
        self.max_connection_attempts = int(max_connection_attempts)
        self.retry_wait_time = float(retry_wait_time)
        self.max_sessions = int(max_sessions)
        if not self.hostname:
            raise ExecutorError(
                "SSHExecutor needs a hostname: SSHExecutor(hostname=...) or hostname in "
                "config [executors.ssh]"
            )
        self._conn: Connection | None = None
        self._finished: list[str] = []  # task directories to remove at teardown

    # ----- plumbing

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_conn"] = None  # a connection never travels
        state["_finished"] = []
        return state

    def target(self) -> Target:
        """Where this executor logs in."""
        return Target(
            hostname=self.hostname,
            port=self.port,
            username=self.username or None,
            ssh_key_file=self.ssh_key_file or None,
            known_hosts=self.known_hosts or None,
            retry_connect=self.retry_connect,
            max_connection_attempts=self.max_connection_attempts,
            retry_wait_time=self.retry_wait_time,
        )

    def check_settings(self) -> list[str]:
        """Bad settings, one message each (checked when a dispatch is submitted)."""
        problems = []
        if self.ssh_key_file and not Path(self.ssh_key_file).expanduser().is_file():
            problems.append(f"ssh_key_file {self.ssh_key_file!r} does not exist on this machine")
        if self.port is not None and not 0 < int(self.port) < 65536:
            problems.append(f"port must be between 1 and 65535, not {self.port}")
        if self.poll_freq <= 0:
            problems.append(f"poll_freq must be positive, not {self.poll_freq}")
        if self.max_connection_attempts < 1:
            problems.append(
                f"max_connection_attempts must be at least 1, not {self.max_connection_attempts}"
            )
        return problems

    def remote_host(self) -> str | None:
        """``user@host:port`` of the SSH host."""
        return self.target().label()

    @property
    def connection(self) -> Connection:
        """The pooled connection of this executor instance (one per adaptor)."""
        if getattr(self, "_conn", None) is None:
            self._conn = Connection(self.target(), self.max_sessions)
        assert self._conn is not None
        return self._conn

    def _python(self) -> str:
        if self.conda_env:
            return f"conda run --no-capture-output -n {quote(self.conda_env)} {self.python_path}"
        return self.python_path

    def _workdir(self, task_metadata: dict[str, Any]) -> str:
        base = self.remote_workdir or "."
        if self.create_unique_workdir:
            dispatch = task_metadata.get("dispatch_id", "")
            return f"{base.rstrip('/')}/{dispatch}/node_{task_metadata.get('node_id', '')}"
        return base

    # ----- the contract

    async def setup(self, task_metadata: dict[str, Any]) -> None:
        """Open the pooled connection (a failure here is reported by the electron's run)."""
        try:
            await self.connection.get()
        except Exception:
            pass

    async def teardown(self, task_metadata: dict[str, Any]) -> None:
        """Remove the task directories of finished electrons; close the pooled connection."""
        finished, self._finished = getattr(self, "_finished", []), []
        if finished and self.do_cleanup:
            try:
                await self.connection.run("rm -rf -- " + " ".join(quote(d) for d in finished))
            except Exception:  # unreachable: they stay under remote_cache (remove by hand)
                pass
        if getattr(self, "_conn", None) is not None:
            await self.connection.close()

    async def run(
        self,
        function: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        task_metadata: dict[str, Any],
    ) -> Any:
        """Run the electron on the remote host; return its output or raise its exception."""
        from .. import _serialize

        where = electron_label(task_metadata)
        if await self.get_cancel_requested():
            raise TaskCancelledError(f"{where} was cancelled before it started")
        resumed = self.resumed_job_handle()
        if resumed:  # the service restarted while it ran: wait for that process instead
            return await self._resume(str(resumed), where)
        _serialize.prepare(function)  # ship by value what the remote host cannot import
        payload = _serialize.portable_dumps(
            (function, list(args), dict(kwargs)), f"the function or inputs of {where}"
        )
        try:
            remote = await prepare_remote(self.connection, self._python(), self.remote_cache, where)
        except RemoteHostError as exc:
            if self.run_local_on_ssh_fail:
                return await self._run_locally(function, args, kwargs, task_metadata, exc)
            raise
        task_id = f"{task_metadata.get('dispatch_id', 'task')}-{task_metadata.get('node_id', 0)}"
        task_dir = remote.absolute(f"{self.remote_cache}/{task_id}-{uuid.uuid4().hex[:8]}")
        workdir = remote.absolute(self._workdir(task_metadata))
        files, status = await self._launch_and_wait(remote, payload, task_dir, workdir, where)
        self.task_stdout.write(_text(files.get("stdout")))
        self.task_stderr.write(_text(files.get("stderr")))
        if await self.get_cancel_requested():
            raise TaskCancelledError(f"{where} was cancelled (its remote process was killed)")
        return outcome_of(files, where, status)

    async def _launch_and_wait(
        self, remote: RemotePython, payload: bytes, task_dir: str, workdir: str, where: str
    ) -> tuple[dict[str, bytes], str]:
        td, wd = quote(task_dir), quote(workdir)
        command = (
            f"mkdir -p {td} {wd} && head -c {len(payload)} > {td}/task.pkl || exit 97\n"
            f"cd {wd} || exit 96\n"
            f"setsid {self._python()} {quote(remote.runner)} {td} "
            f"< /dev/null > {td}/stdout 2> {td}/stderr &\n"
            "pid=$!\necho PID $pid\nwait $pid\necho EXIT $?\n"
            f"{emit_files_script(task_dir)}\n"
        )
        async with self.connection.session() as conn:
            return await self._run_channel(conn, command, payload, task_dir, workdir, where)

    async def _run_channel(
        self, conn: Any, command: str, payload: bytes, task_dir: str, workdir: str, where: str
    ) -> tuple[dict[str, bytes], str]:
        asyncssh = require_asyncssh()
        pid: int | None = None
        try:
            process = await conn.create_process(command, encoding=None)
            try:
                process.stdin.write(payload)
                first = await _line_starting(process.stdout, "PID")
                if len(first) != 2:
                    await process.wait()
                    raise TaskRuntimeError(
                        f"{where}: could not start on {self.connection.target.label()}: "
                        f"cannot write {task_dir} or enter {workdir} (exit {process.exit_status})"
                    )
                pid = int(first[1])
                await self.set_job_handle(self._handle(pid, task_dir))
                if await self.get_cancel_requested():  # handle first, flag second: no cancel lost
                    await self._kill(pid)
                line = await _line_starting(process.stdout, "EXIT")
                if len(line) != 2:
                    raise asyncssh.ConnectionLost("the channel closed before the job ended")
                files = await read_files(process.stdout)
                process.stdin.write_eof()
                await process.wait()
                self._finished.append(task_dir)  # removed at teardown, once recorded
                return files, f"exit code {line[1]}"
            finally:
                process.close()
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError) as exc:
            self.connection.drop(conn)
            if pid is None:
                raise RemoteHostError(
                    f"{where}: lost the connection to {self.connection.target.label()} "
                    f"before the job started: {exc}"
                ) from None
            return await self.reattach(pid, task_dir, where), "reattached"
        except asyncio.CancelledError:
            # timeout or cancel: never leave the remote process running; cancelled without
            # the flag, the adaptor is going away (a restart) and the process runs on
            if self._cancel_requested():
                stop = self._kill(pid) if pid is not None else self._stop_launch(task_dir)
                await asyncio.shield(stop)
            raise

    def _handle(self, pid: int, task_dir: str) -> str:
        """The job handle: where the runner runs, its pid and its task directory."""
        return json.dumps(
            {"host": self.connection.target.label(), "pid": pid, "task_dir": task_dir},
            separators=(",", ":"),
        )

    async def reattach(self, pid: int, task_dir: str, where: str) -> dict[str, bytes]:
        """Wait for a job started earlier (the connection dropped) and fetch its files."""
        td = quote(task_dir)
        command = (
            f"while [ ! -e {td}/result.pkl ] && kill -0 {pid} 2>/dev/null; do sleep "
            f"{max(0.1, self.poll_freq)}; done; {emit_files_script(task_dir)}"
        )
        try:
            _, out, _ = await self.connection.run(command)
        except RemoteHostError as exc:
            raise RemoteHostError(f"{where}: {exc}") from None
        self._finished.append(task_dir)  # removed at teardown, once recorded
        return parse_files(out)

    async def _resume(self, handle: str, where: str) -> Any:
        """Find the remote process of an interrupted run again by its job handle, wait for
        it and return its outcome; fail naming the host and the handle when it is gone."""
        label = self.connection.target.label()
        try:
            job = json.loads(handle)
            pid, task_dir, host = int(job["pid"]), str(job["task_dir"]), str(job["host"])
        except (TypeError, ValueError, KeyError):
            raise TaskRuntimeError(
                f"{where}: the service restarted while it ran on {label}, and its stored job "
                f"handle {handle!r} does not say where; redispatch it to run it again"
            ) from None
        if host != label:
            raise TaskRuntimeError(
                f"{where}: the service restarted while it ran on {host} (job handle "
                f"{handle}), but its executor now logs in to {label}; redispatch it"
            )
        await self.set_job_handle(handle)
        if await self.get_cancel_requested():
            await self._kill(pid)
        try:
            files = await self.reattach(pid, task_dir, where)
        except asyncio.CancelledError:  # timeout or cancel: the remote process must stop
            if self._cancel_requested():
                await asyncio.shield(self._kill(pid))
            raise
        except RemoteHostError as exc:
            raise RemoteHostError(
                f"{exc} (the service restarted while it ran; job handle {handle})"
            ) from None
        self.task_stdout.write(_text(files.get("stdout")))
        self.task_stderr.write(_text(files.get("stderr")))
        if await self.get_cancel_requested():
            raise TaskCancelledError(f"{where} was cancelled (its remote process was killed)")
        if "result.pkl" not in files:
            raise TaskRuntimeError(
                f"{where}: the service restarted while it ran on {host}, and its remote "
                f"process (pid {pid}, task directory {task_dir}) ended without a result "
                f"(job handle {handle}); redispatch it to run it again"
            )
        return outcome_of(files, where, "found again after a restart")

    async def _stop_launch(self, task_dir: str) -> bool:
        """Stop a job whose launch was sent but whose pid never came back (a timeout or
        cancel while it started): mark its task directory cancelled, then kill the pid
        the runner wrote there, if it did (see ``_remote_runner``: pid first, marker second)."""
        td = quote(task_dir)
        self._finished.append(task_dir)  # removed at teardown
        try:
            _, out, _ = await self.connection.run(
                f"mkdir -p {td} && : > {td}/cancelled; pid=$(cat {td}/pid 2>/dev/null) && "
                '[ -n "$pid" ] && kill -KILL -- -"$pid" 2>/dev/null && echo killed; true'
            )
        except Exception:  # the host went away meanwhile: nothing more to do from here
            return False
        return b"killed" in out

    async def _kill(self, pid: int) -> bool:
        status, out, _ = await self.connection.run(
            f"kill -KILL -- -{pid} 2>/dev/null && echo killed; kill -KILL {pid} 2>/dev/null; true"
        )
        return b"killed" in out

    async def cancel(self, task_metadata: dict[str, Any], job_handle: Any) -> bool:
        """Kill the remote runner ``job_handle`` names, with everything it started."""
        try:
            pid = int(json.loads(job_handle)["pid"])
        except (TypeError, ValueError, KeyError):
            return False
        try:
            return await self._kill(pid)
        except Exception:
            return False

    async def _run_locally(
        self,
        function: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        task_metadata: dict[str, Any],
        reason: BaseException,
    ) -> Any:
        from .local import LocalExecutor

        self.task_stderr.write(
            f"[covalent-ray] {reason}; run_local_on_ssh_fail is set: running locally\n"
        )
        local = LocalExecutor(workdir=self.cache_dir or "")
        return await asyncio.to_thread(local.run, function, args, kwargs, task_metadata)
