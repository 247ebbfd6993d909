"""One pooled SSH connection per executor instance (so per adaptor), shared by the SSH
and Slurm executors.

Policy
------
- One ``asyncssh`` connection serves every electron of the adaptor: each electron is
  one SSH channel (session) on it, so 20 concurrent electrons cost 20 channels, not 20
  TCP connections and key exchanges. It is opened on first use (or by ``setup``),
  re-opened when it drops, and closed by ``teardown``.
- Connecting honours ``~/.ssh/config`` (asyncssh reads it) and checks the host key
  against ``~/.ssh/known_hosts`` (or the ``known_hosts`` file given). An unknown host key
  is never accepted silently: the error says how to trust it.
- A failed connect is retried ``max_connection_attempts`` times, ``retry_wait_time``
  seconds apart, when ``retry_connect`` is set. Refused logins and unknown host keys are
  not retried (trying again cannot help). The final error names the host and the reason.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._exceptions import ExecutorError, RemoteHostError

CONNECT_TIMEOUT = 15.0  # seconds for one TCP connect + key exchange + login


def require_asyncssh() -> Any:
    """The ``asyncssh`` module, or an error naming the extra that installs it."""
    try:
        import asyncssh
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ExecutorError(
            "the SSH and Slurm executors need asyncssh: pip install 'covalent-ray[ssh]'"
        ) from exc
    return asyncssh


@dataclass(frozen=True)
class Target:
    """Where and how to log in."""

    hostname: str
    port: int | None = None
    username: str | None = None
    ssh_key_file: str | None = None
    cert_file: str | None = None
    known_hosts: str | None = None
    retry_connect: bool = True
    max_connection_attempts: int = 5
    retry_wait_time: float = 5.0

    def label(self) -> str:
        """``user@host:port`` as far as known (for messages)."""
        user = f"{self.username}@" if self.username else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{self.hostname}{port}"


def _trust_hint(target: Target) -> str:
    port = f"-p {target.port} " if target.port else ""
    file = target.known_hosts or "~/.ssh/known_hosts"
    return (
        f"Check the host's key fingerprint, then trust it: `ssh-keyscan {port}{target.hostname} "
        f">> {file}` (or log in once with `ssh {port}{target.label().rsplit(':', 1)[0]}` "
        "and accept the key)."
    )


class Connection:
    """Lazily opened, shared SSH connections to one target (see the module policy).

    Servers cap the sessions (channels) of one connection (OpenSSH's ``MaxSessions``, 10
    by default), so a long-running electron holds one of ``max_sessions - 1`` slots of a
    connection; one slot stays free for short commands (a cancel must get through). When
    every connection is full, another is opened; it is closed again once idle, unless
    it is the first.
    """

    def __init__(self, target: Target, max_sessions: int = 10) -> None:
        self.target = target
        self.max_sessions = max(2, int(max_sessions))
        self._conns: list[Any] = []  # open connections, the first is the primary
        self._busy: dict[int, int] = {}  # id(conn) -> long sessions held
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self.opened = 0  # connections made so far (the tests check the pooling)

    def _fresh_loop(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (run outside an adaptor): start over
            self._conns, self._busy, self._loop, self._lock = [], {}, loop, asyncio.Lock()
        assert self._lock is not None
        return self._lock

    def _prune(self) -> None:
        self._conns = [c for c in self._conns if not _closed(c)]

    async def get(self) -> Any:
        """The primary connection, connecting (with retries) when there is none."""
        lock = self._fresh_loop()
        self._prune()
        if self._conns:
            return self._conns[0]
        async with lock:
            self._prune()
            if self._conns:
                return self._conns[0]
            conn = await self._connect()
            self.opened += 1
            self._conns.insert(0, conn)
            return conn

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Any]:
        """A connection with a free slot for one long-running session, held for the block."""
        lock = self._fresh_loop()
        limit = self.max_sessions - 1
        async with lock:
            self._prune()
            conn = next((c for c in self._conns if self._busy.get(id(c), 0) < limit), None)
            if conn is None:
                conn = await self._connect()
                self.opened += 1
                self._conns.append(conn)
            self._busy[id(conn)] = self._busy.get(id(conn), 0) + 1
        try:
            yield conn
        finally:
            left = self._busy.get(id(conn), 1) - 1
            self._busy[id(conn)] = left
            if left <= 0 and self._conns and conn is not self._conns[0] and conn in self._conns:
                self._conns.remove(conn)  # an overflow connection that is idle again
                self._busy.pop(id(conn), None)
                conn.close()

    def drop(self, conn: Any) -> None:
        """Forget ``conn`` (it failed); the next use opens a new one."""
        if conn in self._conns:
            self._conns.remove(conn)
        self._busy.pop(id(conn), None)
        try:
            conn.abort()
        except Exception:
            pass

    async def close(self) -> None:
        """Close every open connection."""
        conns, self._conns, self._busy = self._conns, [], {}
        if self._loop is not asyncio.get_running_loop():
            return
        for conn in conns:
            conn.close()
        for conn in conns:
            try:
                await asyncio.wait_for(conn.wait_closed(), 5)
            except Exception:
                pass

    async def _connect(self) -> Any:
        asyncssh = require_asyncssh()
        t = self.target
        options: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
        if t.port:
            options["port"] = int(t.port)
        if t.username:
            options["username"] = t.username
        if t.ssh_key_file:
            key = Path(t.ssh_key_file).expanduser()
            if not key.is_file():
                raise RemoteHostError(
                    f"ssh_key_file {t.ssh_key_file!r} does not exist (executor for "
                    f"{t.label()}): give the path of the private key to log in with"
                )
            options["client_keys"] = [str(key)]
            if t.cert_file:
                options["client_certs"] = [str(Path(t.cert_file).expanduser())]
        if t.known_hosts:
            options["known_hosts"] = str(Path(t.known_hosts).expanduser())
        attempts = max(1, int(t.max_connection_attempts)) if t.retry_connect else 1
        reason = ""
        for attempt in range(1, attempts + 1):
            try:
                return await asyncssh.connect(t.hostname, **options)
            except asyncssh.HostKeyNotVerifiable as exc:
                raise RemoteHostError(
                    f"the host key of {t.label()} is not trusted ({exc.reason or exc}): it is "
                    f"not in {t.known_hosts or '~/.ssh/known_hosts'}. {_trust_hint(t)}"
                ) from None
            except asyncssh.PermissionDenied as exc:
                raise RemoteHostError(
                    f"{t.label()} refused the login ({exc.reason or exc}): check username "
                    "and ssh_key_file (the key must be in the remote authorized_keys)"
                ) from None
            except (OSError, asyncssh.Error, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {getattr(exc, 'reason', '') or exc}"
                if attempt < attempts:
                    await asyncio.sleep(float(t.retry_wait_time))
        raise RemoteHostError(
            f"cannot reach {t.label()} after {attempts} attempt(s): {reason}"
            + ("" if t.retry_connect else " (retry_connect is off)")
        )

    async def run(self, command: str, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        """Run a command to completion; ``(exit status, stdout, stderr)``.

        A connection that dropped is replaced and the command sent once more.
        """
        asyncssh = require_asyncssh()
        for attempt in (1, 2):
            conn = await self.get()
            try:
                done = await conn.run(command, input=stdin, encoding=None, check=False)
            except (asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError):
                self.drop(conn)
                if attempt == 2:
                    raise
                continue
            status = done.exit_status if done.exit_status is not None else -1
            return status, bytes(done.stdout or b""), bytes(done.stderr or b"")
        raise AssertionError("unreachable")


def _closed(conn: Any) -> bool:
    if conn.is_closed():
        return True
    transport = getattr(conn, "_transport", None)
    return transport is None or transport.is_closing()


def quote(path: str) -> str:
    """A remote path for a POSIX shell, ``~/`` expanded by the remote shell."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)
