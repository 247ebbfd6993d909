"""The sandbox worker: its own process, its own locked-down DuckDB holding a copy of the
views, answering queries framed by :mod:`.protocol` (see ``storage/sql/__init__``)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from ..._exceptions import QueryError, QueryRejectedError
from ..._files import watch_parent
from .policy import SELECT_ONLY, SqlLimits, check_query
from .protocol import arrow_reader, arrow_to_ipc, error_of, ipc_to_arrow, receive_frame, send_frame
from .views import VIEWS

#: A file the worker holds locked for its whole life (a free lock: nobody uses the directory)
LOCK = "in-use.lock"


def _limit_process(limits: SqlLimits) -> None:
    """Bound this process before DuckDB is even imported."""
    import resource

    mib = 2**20
    for which, value in (
        (resource.RLIMIT_AS, limits.address_space_mb * mib),
        (resource.RLIMIT_FSIZE, limits.spill_mb * mib),
        (resource.RLIMIT_CORE, 0),
    ):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):  # a lower hard limit is already in place
            pass


def _open_sandbox(directory: str, limits: SqlLimits) -> Any:
    """The worker's DuckDB: the view tables, then every safety switch, then the lock."""
    import duckdb

    con = duckdb.connect(
        os.path.join(directory, "views.duckdb"),
        config={
            "threads": 1,
            "memory_limit": f"{limits.memory_mb}MB",
            "temp_directory": os.path.join(directory, "spill"),
            "max_temp_directory_size": f"{limits.spill_mb}MB",
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
        },
    )
    con.execute("SET TimeZone = 'UTC'")  # stored times are UTC: now()::TIMESTAMP matches
    for view in VIEWS.values():
        con.execute(view.ddl())
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


class _WorkerServer:
    """The worker's side: applies copies of the views and answers queries."""

    def __init__(self, con: Any, limits: SqlLimits, out: IO[bytes]) -> None:
        self.con = con
        self.limits = limits
        self.out = out
        self.out_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(limits.concurrency, thread_name_prefix="sql-query")

    def reply(self, header: dict[str, Any], body: bytes = b"") -> None:
        with self.out_lock:
            send_frame(self.out, header, body)

    def load(self, request: dict[str, Any], body: bytes) -> None:
        """Replace the rows of the given dispatches (all rows when ``ids`` is None)."""
        ids = request.get("ids")
        cur = self.con.cursor()
        offset, registered = 0, []
        try:
            cur.execute("BEGIN TRANSACTION")
            for name, size in request["parts"]:
                if name not in VIEWS:
                    raise ValueError(f"unknown view {name!r}")
                table = ipc_to_arrow(body[offset : offset + size])
                offset += size
                if ids is None:
                    cur.execute(f"DELETE FROM {name}")
                elif ids:
                    cur.execute(
                        f"DELETE FROM {name} WHERE dispatch_id IN (SELECT unnest(?::VARCHAR[]))",
                        [ids],
                    )
                if table.num_rows:
                    alias = f"_load_{name}"
                    cur.register(alias, table)
                    registered.append(alias)
                    cur.execute(f"INSERT INTO {name} SELECT * FROM {alias}")
            cur.execute("COMMIT")
            self.reply({"id": request["id"], "ok": True})
        except Exception as exc:  # whatever broke the copy, the result manager must hear
            try:
                cur.execute("ROLLBACK")
            except Exception:  # noqa: S110  (no transaction left to roll back)
                pass
            failure = QueryError(f"copying the views into the SQL sandbox failed: {exc}")
            self.reply({"id": request["id"], "ok": False, "error": error_of(failure)})
        finally:
            for alias in registered:
                cur.unregister(alias)
            cur.close()

    def query(self, request: dict[str, Any]) -> None:
        """Check and run one query; reply with its rows or why there are none."""
        rid = request["id"]
        try:
            header, body = self._run(request)
            self.reply({"id": rid, "ok": True, **header}, body)
        except QueryError as exc:  # refused or failed: the policy and the engine said why
            self.reply({"id": rid, "ok": False, "error": error_of(exc)})
        except MemoryError:
            failure = QueryError(
                "the query ran out of memory in the SQL sandbox "
                f"(limit {self.limits.address_space_mb} MB)."
            )
            self.reply({"id": rid, "ok": False, "error": error_of(failure)})
        except Exception as exc:  # any other failure is the query's, reported as such
            failure = QueryError(f"{type(exc).__name__}: {exc}")
            self.reply({"id": rid, "ok": False, "error": error_of(failure)})

    def _run(self, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        import duckdb
        import pyarrow as pa

        text, params = request["sql"], request.get("params")
        max_rows, max_bytes = int(request["max_rows"]), self.limits.max_bytes
        timeout = float(request["timeout"])
        cur = self.con.cursor()
        fired = threading.Event()

        def interrupt() -> None:
            fired.set()
            cur.interrupt()

        timer = threading.Timer(timeout, interrupt)
        started = time.perf_counter()
        try:
            check_query(cur, text, self.limits.max_query_chars)
            timer.start()
            relation = cur.sql(text, params=params or None)
            if relation is None:  # not a query after all; the check should have caught it
                raise QueryRejectedError(SELECT_ONLY)
            types = [str(t) for t in relation.types]
            reader = arrow_reader(relation, 2048)
            batches, rows, size, truncated = [], 0, 0, ""
            for batch in reader:
                if rows + batch.num_rows > max_rows:
                    batch = batch.slice(0, max_rows - rows)
                    truncated = "rows"
                if size + batch.nbytes > max_bytes:
                    # keep the share of this batch that fits (rows are similar in size)
                    keep = int(batch.num_rows * (max_bytes - size) / max(batch.nbytes, 1))
                    batches.append(batch.slice(0, max(keep, 0)))
                    rows += max(keep, 0)
                    truncated = "bytes"
                    break
                batches.append(batch)
                rows += batch.num_rows
                size += batch.nbytes
                if truncated:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException:
            raise QueryError(
                f"the query was interrupted after {timeout:g} s (its time limit); narrow "
                "it or pass a larger timeout."
            ) from None
        except duckdb.OutOfMemoryException as exc:
            first = str(exc).strip().splitlines()[0]  # DuckDB's tips about SET do not apply
            raise QueryError(
                f"the query ran out of memory in the SQL sandbox ({first}); "
                "aggregate or filter more."
            ) from None
        except (duckdb.Error, pa.ArrowException) as exc:
            # an interrupt while batches stream surfaces as an Arrow error
            if fired.is_set():
                raise QueryError(
                    f"the query was interrupted after {timeout:g} s (its time "
                    "limit); narrow it or pass a larger timeout."
                ) from None
            raise QueryError(str(exc)) from None
        finally:
            timer.cancel()
            cur.close()
        header = {
            "columns": table.column_names,
            "types": types,
            "row_count": table.num_rows,
            "truncated": truncated or None,
            "max_rows": max_rows,
            "elapsed_s": round(time.perf_counter() - started, 6),
        }
        return header, arrow_to_ipc(table)

    def serve(self, source: IO[bytes]) -> None:
        while True:
            frame = receive_frame(source)
            if frame is None:  # the result manager is gone
                return
            request, body = frame
            if request["op"] == "load":
                self.load(request, body)
            elif request["op"] == "query":
                self.pool.submit(self.query, request)
            elif request["op"] == "ping":
                self.reply({"id": request["id"], "ok": True})


def _exit_orphaned(directory: str) -> None:
    """The result manager's process is gone: stop, even in the middle of a query."""
    shutil.rmtree(directory, ignore_errors=True)
    os._exit(0)


def serve_worker() -> None:
    """Entry point of the sandbox worker process (``argv[1]``: its settings as JSON)."""
    settings = json.loads(sys.argv[1])
    limits = SqlLimits(**settings["limits"])
    _limit_process(limits)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must not corrupt the protocol on stdout
    directory = settings["directory"]
    # held for this process's life: a directory whose lock is free belongs to nobody
    lock = open(os.path.join(directory, LOCK), "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    watch_parent(settings["parent"], lambda: _exit_orphaned(directory), interval=1.0)
    con = _open_sandbox(directory, limits)
    server = _WorkerServer(con, limits, out)
    server.reply({"id": 0, "ok": True, "ready": True})
    server.serve(sys.stdin.buffer)
    # the result manager is gone (or stopped us): nobody will read the answers of queries
    # still running, and the copy is worth nothing without it
    shutil.rmtree(directory, ignore_errors=True)
    os._exit(0)
