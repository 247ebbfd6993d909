"""The result manager's side: the sandbox worker process it starts, the incremental copy
of the views into it, and :class:`SqlService`, which runs user queries there."""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..._exceptions import QueryError, QueryRejectedError
from ..._status import TERMINAL
from .policy import SqlLimits
from .protocol import arrow_table, arrow_to_ipc, check_answer, error_of, receive_frame, send_frame
from .views import VIEWS
from .worker import LOCK

log = logging.getLogger(__name__)


def default_root() -> Path:
    """Where sandbox directories go when the caller names no place (tests, benchmarks);
    the result manager uses ``<home>/sql-sandbox``."""
    return Path(tempfile.gettempdir()) / f"covalent-ray-sql-{os.getuid()}"


def _sweep(root: Path) -> None:
    """Remove the directories of workers that are gone. A worker killed together with
    the result manager (a stopped service kills the actor's whole process group) cannot
    clean up after itself; its lock, though, died with it."""
    for directory in root.glob("worker-*"):
        try:
            with open(directory / LOCK, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live worker holds it
        except OSError:
            pass  # no lock file: its worker never started
        shutil.rmtree(directory, ignore_errors=True)


class _Worker:
    """One sandbox process, and the requests in flight to it."""

    def __init__(self, limits: SqlLimits, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        _sweep(root)
        self.directory = tempfile.mkdtemp(prefix="worker-", dir=root)
        settings = {"limits": asdict(limits), "directory": self.directory, "parent": os.getpid()}
        env = {  # nothing of the service's environment (tokens, addresses) goes along
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            "HOME": self.directory,
            "TMPDIR": self.directory,
            "LANG": "C.UTF-8",
            "MALLOC_ARENA_MAX": "2",
            "OMP_NUM_THREADS": "1",
            "PYTHONNOUSERSITE": "1",
        }
        code = "from covalent_ray.storage.sql.worker import serve_worker; serve_worker()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            env=env,
            cwd=self.directory,
        )
        self._lock = threading.Lock()
        self._next = 1
        self._pending: dict[int, Future[tuple[dict[str, Any], bytes]]] = {}
        ready: Future[tuple[dict[str, Any], bytes]] = Future()
        self._pending[0] = ready
        self._reader = threading.Thread(
            target=self._read_replies, daemon=True, name="covalent-ray-sql-replies"
        )
        self._reader.start()
        try:
            ready.result(timeout=60)
        except Exception:
            self.kill()
            raise
        self._finalizer = weakref.finalize(self, _discard, self.proc, self.directory)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read_replies(self) -> None:
        assert self.proc.stdout is not None
        while True:
            try:
                frame = receive_frame(self.proc.stdout)
            except (OSError, ValueError):
                frame = None
            if frame is None:
                break
            with self._lock:
                fut = self._pending.pop(int(frame[0].get("id", -1)), None)
            if fut is not None and not fut.done():
                fut.set_result(frame)
        code = self.proc.wait()
        self._fail_all(
            QueryError(
                f"the SQL sandbox worker stopped (exit code {code}), most likely because a "
                "query exhausted its memory; it restarts with the next query."
            )
        )

    def _fail_all(self, exc: Exception) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    def request(self, header: dict[str, Any], *body: bytes) -> Future[tuple[dict[str, Any], bytes]]:
        """Send a request; the future resolves with the worker's reply frame."""
        fut: Future[tuple[dict[str, Any], bytes]] = Future()
        with self._lock:
            rid = self._next
            self._next += 1
            self._pending[rid] = fut
            try:
                assert self.proc.stdin is not None
                send_frame(self.proc.stdin, {**header, "id": rid}, *body)
            except (OSError, ValueError) as exc:
                self._pending.pop(rid, None)
                fut.set_exception(
                    QueryError(
                        f"the SQL sandbox worker is gone ({exc}); it restarts with the next query."
                    )
                )
        return fut

    def kill(self) -> None:
        """Stop the process at once and fail whatever it was doing."""
        _discard(self.proc, self.directory)
        self._fail_all(QueryError("the SQL sandbox worker was stopped."))


def _discard(proc: subprocess.Popen[bytes], directory: str) -> None:
    if proc.poll() is None:
        proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    shutil.rmtree(directory, ignore_errors=True)


@dataclass
class _Copy:
    """What the worker's copy of the views holds.

    ``statuses``: dispatch id -> status when copied. ``finished``: count and hash of the
    (id, status) pairs of finished dispatches; while it is unchanged no dispatch finished,
    appeared finished or disappeared, so only running ones need looking at.
    ``running``: a fingerprint of the running dispatches' state rows when copied; while
    it is unchanged, they need no copying either."""

    statuses: dict[str, str] = field(default_factory=dict)
    finished: tuple[Any, ...] | None = None
    running: tuple[Any, ...] | None = None
    loaded: bool = False


_TERMINAL_VALUES = frozenset(s.value for s in TERMINAL)
_FINISHED = "status IN ({})".format(", ".join(f"'{v}'" for v in sorted(_TERMINAL_VALUES)))
_IN_IDS = "dispatch_id IN (SELECT unnest($ids::VARCHAR[]))"

# What changes while a dispatch runs: its row's end, its electrons' state columns (an
# output changes its blob key; logs and errors arrive with a status), its attempts.
_RUNNING_FINGERPRINT = f"""
SELECT (SELECT coalesce(sum(hash(dispatch_id, status, end_time, result_blob)), 0)
        FROM dispatches WHERE {_IN_IDS}),
       (SELECT coalesce(sum(hash(dispatch_id, node_id, status, attempt, start_time,
                                 end_time, output_blob, ray_node_id, sub_dispatch_id)), 0)
        FROM electrons WHERE {_IN_IDS}),
       (SELECT count(*) FROM attempts WHERE {_IN_IDS})
"""


class SqlService:
    """Runs user queries over the views in a sandbox worker (see the module docstring).

    ``cursor`` opens a read cursor on the results database; the service only reads
    through it. Every method blocks: call it from a thread (``pool`` is one sized for it).
    """

    def __init__(
        self, cursor: Callable[[], Any], limits: SqlLimits | None = None, root: Path | None = None
    ) -> None:
        self._cursor = cursor
        self.limits = limits or SqlLimits()
        self.root = root or default_root()  # each worker gets a private directory in it
        self.pool = ThreadPoolExecutor(
            self.limits.concurrency + 1, thread_name_prefix="covalent-ray-sql"
        )
        self._worker: _Worker | None = None
        self._copy = _Copy()
        self._refresh_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self.stats: dict[str, float] = {
            "refreshes": 0,
            "copied_dispatches": 0,
            "last_refresh_s": 0.0,
        }

    # -- worker and copy ---------------------------------------------------------------

    def _live_worker(self) -> _Worker:
        with self._start_lock:
            if self._worker is None or not self._worker.alive:
                if self._worker is not None:
                    self._worker.kill()
                self._worker = None
                self._copy = _Copy()  # a new worker starts empty
                self._worker = _Worker(self.limits, self.root)
            return self._worker

    def _refresh(self) -> _Worker:
        """Bring the worker's copy up to what is committed now; return the worker."""
        with self._refresh_lock:
            worker = self._live_worker()
            started = time.perf_counter()
            copy = self._copy
            cur = self._cursor()
            try:
                cur.execute("BEGIN TRANSACTION")  # one consistent snapshot for all reads
                try:
                    plan = _plan(cur, copy)
                    parts: list[bytes] = []
                    if plan.ids is None or plan.ids:
                        for view in VIEWS.values():
                            rel = cur.sql(
                                view.select(plan.ids is not None),
                                params=None if plan.ids is None else {"ids": plan.ids},
                            )
                            parts.append(arrow_to_ipc(arrow_table(rel)))
                finally:
                    cur.execute("COMMIT")
            finally:
                cur.close()
            if parts:
                header = {
                    "op": "load",
                    "ids": plan.ids,
                    "parts": [[name, len(data)] for name, data in zip(VIEWS, parts)],
                }
                reply, _ = worker.request(header, *parts).result(
                    timeout=max(60.0, self.limits.timeout_cap_s)
                )
                check_answer(reply)
                self.stats["refreshes"] += 1
                self.stats["copied_dispatches"] += (
                    len(plan.statuses) if plan.ids is None else len(plan.ids)
                )
                self.stats["last_refresh_s"] = time.perf_counter() - started
            copy.statuses, copy.finished, copy.running = (
                plan.statuses,
                plan.finished,
                plan.running,
            )
            copy.loaded = True
            return worker

    # -- queries -----------------------------------------------------------------------

    def query(
        self,
        text: str,
        params: list[Any] | dict[str, Any] | None = None,
        max_rows: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Run one read-only query over the views.

        Returns ``columns``, ``types``, ``arrow`` (Arrow IPC stream bytes of the rows),
        ``row_count``, ``truncated`` (None, ``"rows"`` or ``"bytes"``), ``max_rows`` and
        ``elapsed_s``. Raises :class:`QueryRejectedError` for a query the policy refuses
        and :class:`QueryError` for one that fails or runs out of time.
        """
        if not isinstance(text, str) or not text.strip():
            raise QueryRejectedError(
                "the query is empty; send one SELECT over the views " + ", ".join(VIEWS) + "."
            )
        if params is not None and not isinstance(params, (list, tuple, dict)):
            raise QueryRejectedError(
                "params must be a list (for ? and $1) or a mapping (for $name)."
            )
        rows, seconds = self.limits.rows(max_rows), self.limits.seconds(timeout)
        worker = self._refresh()
        fut = worker.request(
            {
                "op": "query",
                "sql": text,
                "params": list(params) if isinstance(params, tuple) else params,
                "max_rows": rows,
                "timeout": seconds,
            }
        )
        try:
            reply, body = fut.result(timeout=seconds + self.limits.grace_s)
        except FutureTimeout:
            # interrupting did not stop it (a long scalar call): only a kill does
            worker.kill()
            raise QueryError(
                f"the query did not stop within {self.limits.grace_s:g} s of being "
                f"interrupted at its {seconds:g} s limit; the SQL sandbox was restarted."
            ) from None
        check_answer(reply)
        return {
            "columns": reply["columns"],
            "types": reply["types"],
            "arrow": body,
            "row_count": reply["row_count"],
            "truncated": reply["truncated"],
            "max_rows": reply["max_rows"],
            "elapsed_s": reply["elapsed_s"],
        }

    def answer(
        self,
        text: str,
        params: list[Any] | dict[str, Any] | None = None,
        max_rows: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """:meth:`query`, with a refusal or failure returned as ``{"error": {"kind",
        "message"}}`` rather than raised (so it crosses Ray without a traceback)."""
        try:
            return self.query(text, params, max_rows, timeout)
        except QueryError as exc:
            return {"error": error_of(exc)}
        except Exception as exc:  # the sandbox itself broke (worker start, copy): say so
            log.exception("the SQL sandbox failed")
            failure = QueryError(
                f"the SQL sandbox failed ({type(exc).__name__}: {exc}); the "
                "result manager's log has the details."
            )
            return {"error": error_of(failure)}

    def export(self, view: str) -> bytes:
        """Every row of ``view`` as a Parquet file's bytes, read straight from the
        database (no user SQL is involved)."""
        import pyarrow.parquet as pq

        if view not in VIEWS:
            raise QueryRejectedError(f"no view named {view!r}; the views are {', '.join(VIEWS)}.")
        cur = self._cursor()
        try:
            table = arrow_table(cur.sql(VIEWS[view].select(False)))
        finally:
            cur.close()
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        return sink.getvalue()

    def close(self) -> None:
        """Stop the worker (the next query starts a new one)."""
        with self._start_lock:
            if self._worker is not None:
                self._worker.kill()
                self._worker = None
                self._copy = _Copy()


@dataclass
class _Plan:
    """What to copy (``ids``: None for everything) and the state the copy will then hold."""

    ids: list[str] | None
    statuses: dict[str, str]
    finished: tuple[Any, ...]
    running: tuple[Any, ...] | None


def _plan(cur: Any, copy: _Copy) -> _Plan:
    """Compare the database (inside the caller's transaction) with the copy."""
    finished = tuple(
        cur.execute(
            f"SELECT count(*) FILTER ({_FINISHED}), "
            f"coalesce(sum(hash(dispatch_id, status)) FILTER ({_FINISHED}), 0) FROM dispatches"
        ).fetchall()[0]
    )
    if copy.loaded and finished == copy.finished:
        # no dispatch finished, appeared finished or vanished: look at running ones only
        running = dict(
            cur.execute(
                f"SELECT dispatch_id, status FROM dispatches WHERE NOT ({_FINISHED})"
            ).fetchall()
        )
        held_running = {d for d, s in copy.statuses.items() if s not in _TERMINAL_VALUES}
        statuses = {d: s for d, s in copy.statuses.items() if s in _TERMINAL_VALUES}
        statuses.update(running)
        candidates = sorted(held_running | set(running))
        if not candidates:
            return _Plan([], statuses, finished, None)
        now = (
            tuple(sorted(running.items())),
            *cur.execute(_RUNNING_FINGERPRINT, {"ids": candidates}).fetchall()[0],
        )
        unchanged: list[str] = []
        return _Plan(unchanged if now == copy.running else candidates, statuses, finished, now)
    statuses = dict(cur.execute("SELECT dispatch_id, status FROM dispatches").fetchall())
    running_ids = sorted(d for d, s in statuses.items() if s not in _TERMINAL_VALUES)
    fingerprint: tuple[Any, ...] | None = None
    if running_ids:
        fingerprint = (
            tuple(sorted((d, statuses[d]) for d in running_ids)),
            *cur.execute(_RUNNING_FINGERPRINT, {"ids": running_ids}).fetchall()[0],
        )
    if not copy.loaded:
        return _Plan(None, statuses, finished, fingerprint)
    held = copy.statuses
    stale = [d for d, s in statuses.items() if held.get(d) != s or s not in _TERMINAL_VALUES]
    stale += [d for d in held if d not in statuses]
    # copying most of the rows again is cheaper as one full copy than as a filtered one
    everything = 2 * len(stale) >= max(len(statuses), 1)
    return _Plan(None if everything else stale, statuses, finished, fingerprint)


def answer(
    service: SqlService,
    text: str,
    params: Any = None,
    max_rows: int | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """``service.answer(...)`` (a plain function, for ``run_in_executor``)."""
    return service.answer(text, params, max_rows, timeout)
