"""The SQL sandbox without Ray: the query policy, the worker's locked-down engine, the
incremental copy of the views, and the bounds on rows, time and memory.

These run the real worker process against a scratch results database written through
the repository functions, the way the result manager writes it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from covalent_ray._exceptions import QueryError, QueryRejectedError
from covalent_ray.storage import repository as repo
from covalent_ray.storage.sql import (
    VIEWS,
    SqlLimits,
    SqlService,
    check_query,
    ipc_to_arrow,
)
from covalent_ray.storage.sql.worker import _open_sandbox

READS = [
    "SELECT * FROM electrons",
    "FROM dispatches",
    "select d.name, count(*) from dispatches d join electrons e using (dispatch_id) group by 1",
    "WITH best AS (SELECT * FROM dispatches ORDER BY duration_s DESC LIMIT 3) FROM best",
    "SELECT * FROM main.edges",
    "SELECT k.key, k.value FROM electrons e, json_each(e.inputs) k",
    "SELECT i FROM range(5) t(i) UNION ALL SELECT unnest([1, 2])",
    "VALUES (1, 'a')",
    "DESCRIBE electrons",
    "SUMMARIZE dispatches",
    "SELECT inputs->>'$.x', output::DOUBLE FROM electrons WHERE name = ?",
    "SELECT * FROM electron_inputs WHERE name = $name",
    "SELECT now()::TIMESTAMP - INTERVAL 1 DAY, random(), version()",
    # CTEs see the views, the CTEs before them, and themselves only when recursive
    "WITH electrons AS (SELECT * FROM electrons WHERE kind = 'electron') FROM electrons",
    "WITH a AS (FROM dispatches), b AS (FROM a) SELECT * FROM b UNION ALL FROM a",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) FROM t",
    "WITH a AS (SELECT 1 AS x) SELECT (SELECT count(*) FROM a), * FROM (FROM a)",
]

#: A CTE named like a catalog view, table function or base table, reading that name in its
#: own body: there the name means what it shadows, so each must be refused as that name
SHADOWED = [
    "duckdb_databases",
    "pg_settings",
    "duckdb_tables",
    "duckdb_columns",
    "sqlite_master",
    "pg_proc",
    "duckdb_settings",
    "information_schema.tables",
    "blobs",
]
CTE_ATTACKS = [
    *(f"WITH {n} AS (SELECT * FROM {n}) SELECT * FROM {n}" for n in SHADOWED if "." not in n),
    "WITH RECURSIVE pg_settings AS (SELECT * FROM pg_settings) SELECT * FROM pg_settings",
    "WITH RECURSIVE duckdb_tables AS (FROM duckdb_tables UNION ALL FROM duckdb_tables) "
    "FROM duckdb_tables",
    "WITH a AS (FROM duckdb_columns), duckdb_columns AS (FROM a) FROM duckdb_columns",
    "WITH x AS (SELECT 1) FROM (WITH pg_proc AS (FROM pg_proc) FROM pg_proc)",
    "SELECT * FROM (WITH sqlite_master AS (SELECT 1) SELECT 1) s, sqlite_master",
    "WITH tables AS (FROM information_schema.tables) FROM tables",
    "WITH read_csv AS (SELECT 1) SELECT * FROM read_csv('/etc/passwd')",
]

REFUSED = {
    "SELECT * FROM read_csv('/etc/passwd')": "read_csv",
    "SELECT * FROM read_text('/etc/passwd')": "read_text",
    "SELECT * FROM '/etc/passwd'": "/etc/passwd",
    "SELECT * FROM read_parquet('https://example.com/x.parquet')": "read_parquet",
    "SELECT * FROM glob('/etc/*')": "glob",
    "COPY electrons TO '/tmp/pwned.csv'": "COPY",
    "COPY (SELECT 1) TO '/tmp/pwned.csv'": "COPY",
    "ATTACH '/tmp/evil.duckdb' AS evil": "ATTACH",
    "DETACH views": "DETACH",
    "EXPORT DATABASE '/tmp/dump'": "EXPORT",
    "INSTALL httpfs": "LOAD",
    "LOAD httpfs": "LOAD",
    "SET threads = 64": "SET",
    "SET enable_external_access = true": "SET",
    "RESET lock_configuration": "SET",
    "USE memory": "SET",
    "PRAGMA enable_profiling": "PRAGMA",
    "CALL pragma_version()": "CALL",
    "CHECKPOINT": "CALL",
    "BEGIN TRANSACTION": "TRANSACTION",
    "EXPLAIN SELECT 1": "EXPLAIN",
    "SELECT current_setting('memory_limit')": "current_setting",
    "SELECT getvariable('x')": "getvariable",
    "SELECT pg_sleep(100)": "pg_sleep",
    "DROP TABLE electrons": "DROP",
    "DELETE FROM dispatches": "DELETE",
    "UPDATE dispatches SET status = 'FAILED'": "UPDATE",
    "INSERT INTO edges VALUES ('x', 0, 1, 'arg', 0, 'a')": "INSERT",
    "WITH x AS (SELECT 1) DELETE FROM dispatches": "DELETE",
    "CREATE TABLE t AS SELECT 1": "CREATE",
    "CREATE MACRO m() AS 1": "CREATE",
    "SELECT * FROM blobs": "blobs",
    "SELECT data FROM main.blobs": "blobs",
    "SELECT * FROM meta": "meta",
    "SELECT * FROM memory.main.electrons": "memory.main.electrons",
    "SELECT * FROM information_schema.tables": "information_schema",
    "SELECT * FROM duckdb_settings()": "duckdb_settings",
    "SELECT * FROM duckdb_tables()": "duckdb_tables",
    "SHOW TABLES": "SHOW",
    "SELECT * FROM query('SELECT * FROM blobs')": "query",
    "SELECT * FROM (SELECT * FROM electrons) e, (FROM blobs) b": "blobs",
    "SELECT 1 WHERE 1 IN (SELECT 1 FROM read_blob('/etc/hostname'))": "read_blob",
    "SELECT 1; DROP TABLE electrons": "2 statements",
    "SELECT count(*) FROM dispatches; SELECT 1": "2 statements",
    "SELEC 1": "does not parse",
}


@pytest.fixture(scope="module")
def parser() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@pytest.mark.parametrize("query", READS)
def test_reads_pass_the_check(parser: duckdb.DuckDBPyConnection, query: str) -> None:
    check_query(parser, query)


@pytest.mark.parametrize("query,reason", list(REFUSED.items()))
def test_everything_else_is_refused_with_the_reason(
    parser: duckdb.DuckDBPyConnection, query: str, reason: str
) -> None:
    with pytest.raises(QueryRejectedError, match=reason.replace(".", r"\.")):
        check_query(parser, query)


@pytest.mark.parametrize("query", CTE_ATTACKS)
def test_a_cte_never_unlocks_what_it_shadows(parser: duckdb.DuckDBPyConnection, query: str) -> None:
    with pytest.raises(QueryRejectedError, match="is not a result view|table function"):
        check_query(parser, query)


def test_overlong_query_is_refused(parser: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(QueryRejectedError, match="characters long"):
        check_query(parser, "SELECT 1" + " " * 200, max_chars=100)


ENGINE_ATTACKS = [
    "SELECT * FROM read_csv('{d}/../../etc/passwd')",
    "COPY electrons TO '{d}/out.csv'",
    "ATTACH '{d}/evil.duckdb' AS evil",
    "EXPORT DATABASE '{d}/dump'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "SET threads = 8",
    "PRAGMA memory_limit = '100GB'",
    "SELECT * FROM read_parquet('https://example.com/x.parquet')",
    "SELECT * FROM glob('/etc/*')",
]


@pytest.mark.parametrize("attack", ENGINE_ATTACKS)
def test_worker_engine_refuses_even_without_the_check(tmp_path: Path, attack: str) -> None:
    # the second layer: the worker's DuckDB itself, with the parser check bypassed
    con = _open_sandbox(str(tmp_path), SqlLimits())
    try:
        with pytest.raises(duckdb.Error):
            con.execute(attack.format(d=tmp_path)).fetchall()
        assert sorted(os.listdir(tmp_path)) == ["views.duckdb", "views.duckdb.wal"] or sorted(
            os.listdir(tmp_path)
        ) == ["views.duckdb"]
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('enable_external_access', 'lock_configuration', 'threads')"
            ).fetchall()
        )
        assert settings == {
            "enable_external_access": "false",
            "lock_configuration": "true",
            "threads": "1",
        }
    finally:
        con.close()


# -- the service over a scratch database ------------------------------------------------


def _dispatch(con: Any, dispatch_id: str, status: str, score: float, lr: float) -> None:
    now = repo.now()
    done = status != "RUNNING"
    repo.insert_dispatch(
        con,
        {
            "dispatch_id": dispatch_id,
            "root_dispatch_id": dispatch_id,
            "name": "scratch",
            "status": status,
            "created_at": now,
            "start_time": now,
            "end_time": now if done else None,
            "num_nodes": 3,
            "inputs_json": f'{{"args": [{lr}], "kwargs": {{}}}}',
            "inputs_repr": f"({lr},)",
            "result_json": f'{{"score": {score}}}' if done else None,
        },
        [
            {
                "dispatch_id": dispatch_id,
                "node_id": 0,
                "name": "train",
                "kind": "electron",
                "status": status,
                "attempt": 0,
                "output_json": f'{{"score": {score}}}',
                "output_repr": f"{{'score': {score}}}",
                "ray_node_id": "n1",
                "worker_pid": 42,
            },
            {
                "dispatch_id": dispatch_id,
                "node_id": 1,
                "name": f":parameter:{lr}",
                "kind": "parameter",
                "status": "COMPLETED",
                "attempt": 0,
                "output_json": str(lr),
                "output_repr": str(lr),
            },
            {
                "dispatch_id": dispatch_id,
                "node_id": 2,
                "name": ":parameter:<Model>",
                "kind": "parameter",
                "status": "COMPLETED",
                "attempt": 0,
                "output_json": None,
                "output_repr": "<Model object>",
            },
        ],
        [
            {
                "dispatch_id": dispatch_id,
                "parent_node_id": 1,
                "child_node_id": 0,
                "kind": "arg",
                "arg_index": 0,
                "param_name": "lr",
            },
            {
                "dispatch_id": dispatch_id,
                "parent_node_id": 2,
                "child_node_id": 0,
                "kind": "kwarg",
                "arg_index": None,
                "param_name": "model",
            },
        ],
    )


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[tuple[Any, SqlService]]:
    con = repo.connect(tmp_path / "results.duckdb")
    service = SqlService(
        lambda: con.cursor(), SqlLimits(timeout_s=5.0, grace_s=2.0), root=tmp_path / "sandbox"
    )
    try:
        yield con, service
    finally:
        service.close()
        con.close()


def _rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return list(ipc_to_arrow(answer["arrow"]).to_pylist())


def test_views_copy_follows_inserts_updates_and_deletes(scratch: tuple[Any, SqlService]) -> None:
    con, service = scratch
    _dispatch(con, "a", "COMPLETED", 0.5, 0.1)
    _dispatch(con, "b", "RUNNING", 0.7, 0.2)
    rows = _rows(service.query("SELECT dispatch_id, status FROM dispatches ORDER BY 1"))
    assert rows == [
        {"dispatch_id": "a", "status": "COMPLETED"},
        {"dispatch_id": "b", "status": "RUNNING"},
    ]

    electron = _rows(
        service.query(
            "SELECT inputs, output, output->>'$.score' AS score FROM electrons "
            "WHERE dispatch_id = 'a' AND kind = 'electron'"
        )
    )
    # the non-JSON argument appears as its readable string, under its keyword
    assert [{k: json.loads(v) for k, v in row.items()} for row in electron] == [
        {"inputs": {"lr": 0.1, "model": "<Model object>"}, "output": {"score": 0.5}, "score": 0.5}
    ]

    # a running dispatch is copied again on every query; a new one appears; a finished
    # one that vanished from the database vanishes from the copy
    repo.update_dispatch(con, "b", {"status": "COMPLETED", "end_time": repo.now()})
    repo.update_nodes(
        con,
        [
            {
                "dispatch_id": "b",
                "node_id": 0,
                **{c: None for c in repo.NODE_STATE_COLUMNS},
                "status": "COMPLETED",
                "attempt": 1,
                "output_json": '{"score": 0.9}',
                "output_repr": "{'score': 0.9}",
            }
        ],
    )
    _dispatch(con, "c", "FAILED", 0.1, 0.3)
    con.execute("DELETE FROM electrons WHERE dispatch_id = 'a'")
    con.execute("DELETE FROM edges WHERE dispatch_id = 'a'")
    con.execute("DELETE FROM dispatches WHERE dispatch_id = 'a'")
    rows = _rows(
        service.query(
            "SELECT d.dispatch_id, d.status, e.attempt, (e.output->>'$.score')::DOUBLE AS s "
            "FROM dispatches d JOIN electrons e USING (dispatch_id) "
            "WHERE e.kind = 'electron' ORDER BY 1"
        )
    )
    assert rows == [
        {"dispatch_id": "b", "status": "COMPLETED", "attempt": 1, "s": 0.9},
        {"dispatch_id": "c", "status": "FAILED", "attempt": 0, "s": 0.1},
    ]
    counts = _rows(
        service.query(
            "SELECT (SELECT count(*) FROM electrons) AS e, (SELECT count(*) FROM edges) AS g, "
            "(SELECT count(*) FROM electron_inputs) AS i"
        )
    )
    assert counts == [{"e": 6, "g": 4, "i": 4}]
    # copies: everything (first query), then b, c and a's removal (third); the second
    # query found b still running but unchanged, the fourth found nothing changed at all
    assert service.stats["refreshes"] == 2


def test_copy_is_incremental(scratch: tuple[Any, SqlService]) -> None:
    con, service = scratch
    for i in range(20):
        _dispatch(con, f"done-{i}", "COMPLETED", i / 20, 0.1)
    service.query("SELECT 1")
    assert service.stats["copied_dispatches"] == 20
    _dispatch(con, "new", "RUNNING", 0.0, 0.1)
    service.query("SELECT 1")
    service.query("SELECT 1")
    # only the new dispatch was copied, once: it is running but did not change
    assert service.stats["copied_dispatches"] == 21
    # one of its electrons moves on: the running dispatch is copied again, alone
    repo.update_nodes(
        con,
        [
            {
                "dispatch_id": "new",
                "node_id": 0,
                **{c: None for c in repo.NODE_STATE_COLUMNS},
                "status": "RUNNING",
                "attempt": 1,
            }
        ],
    )
    rows = _rows(
        service.query(
            "SELECT status, attempt FROM electrons WHERE dispatch_id = 'new' AND node_id = 0"
        )
    )
    assert rows == [{"status": "RUNNING", "attempt": 1}]
    assert service.stats["copied_dispatches"] == 22
    # a new attempt row alone counts as a change too
    con.execute(
        "INSERT INTO attempts (dispatch_id, node_id, attempt, status) "
        "VALUES ('new', 0, 1, 'FAILED')"
    )
    assert _rows(service.query("SELECT count(*) AS n FROM attempts")) == [{"n": 1}]
    assert service.stats["copied_dispatches"] == 23


def test_params_rows_bound_and_types(scratch: tuple[Any, SqlService]) -> None:
    _, service = scratch
    answer = service.query(
        "SELECT i, ? AS tag, $1 AS again FROM range(25000) t(i)", ["x"], max_rows=12_345
    )
    assert answer["row_count"] == 12_345 and answer["truncated"] == "rows"
    assert answer["columns"] == ["i", "tag", "again"]
    assert answer["types"] == ["BIGINT", "VARCHAR", "VARCHAR"]
    exact = service.query("SELECT i FROM range(7) t(i)", max_rows=7)
    assert exact["row_count"] == 7 and exact["truncated"] is None
    named = _rows(service.query("SELECT $a + $b AS s", {"a": 1, "b": 2}))
    assert named == [{"s": 3}]
    default = service.query("SELECT i FROM range(20000) t(i)")
    assert default["row_count"] == 10_000 and default["truncated"] == "rows"


def test_result_bytes_are_bounded(tmp_path: Path) -> None:
    con = repo.connect(tmp_path / "results.duckdb")
    service = SqlService(
        lambda: con.cursor(), SqlLimits(max_bytes=2**20), root=tmp_path / "sandbox"
    )
    try:
        answer = service.query("SELECT repeat('x', 1000) AS s FROM range(5000)")
        assert answer["truncated"] == "bytes"
        assert 0 < answer["row_count"] < 5000
    finally:
        service.close()
        con.close()


def test_runaway_query_is_interrupted_and_says_so(scratch: tuple[Any, SqlService]) -> None:
    _, service = scratch
    started = time.perf_counter()
    with pytest.raises(QueryError, match=r"interrupted after 1 s"):
        service.query("SELECT count(*) FROM range(1000000000000) a(i)", timeout=1)
    assert time.perf_counter() - started < 4
    # one that streams rows slowly: interrupted between batches
    with pytest.raises(QueryError, match=r"interrupted after 1 s"):
        service.query(
            "SELECT i FROM range(1000000000000) a(i) WHERE i % 300000000 = 7",
            max_rows=1_000_000,
            timeout=1,
        )
    assert _rows(service.query("SELECT 42 AS x")) == [{"x": 42}]


def test_memory_bomb_fails_in_the_worker(tmp_path: Path) -> None:
    con = repo.connect(tmp_path / "results.duckdb")
    service = SqlService(
        lambda: con.cursor(),
        SqlLimits(address_space_mb=1536, memory_mb=256),
        root=tmp_path / "sandbox",
    )
    try:
        with pytest.raises(QueryError, match="out of memory"):
            service.query("SELECT len(range(300000000)) AS n")
        assert _rows(service.query("SELECT 1 AS one")) == [{"one": 1}]
    finally:
        service.close()
        con.close()


def test_stuck_worker_is_killed_and_replaced(scratch: tuple[Any, SqlService]) -> None:
    con, service = scratch
    _dispatch(con, "a", "COMPLETED", 0.5, 0.1)
    service.query("SELECT 1")
    worker = service._worker
    assert worker is not None
    os.kill(worker.proc.pid, signal.SIGSTOP)  # deaf to interrupts, like a long C call
    started = time.perf_counter()
    with pytest.raises(QueryError, match="did not stop .* restarted"):
        service.query("SELECT count(*) FROM electrons", timeout=1)
    assert time.perf_counter() - started < 1 + 2 + 3
    assert worker.proc.poll() is not None
    # the next query gets a fresh worker with a full copy
    assert _rows(service.query("SELECT count(*) AS n FROM dispatches")) == [{"n": 1}]
    assert service._worker is not worker


def test_worker_sees_nothing_of_the_service_environment(
    scratch: tuple[Any, SqlService], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, service = scratch
    service.close()
    monkeypatch.setenv("RAY_AUTH_TOKEN", "secret-token")
    service.query("SELECT 1")
    worker = service._worker
    assert worker is not None
    environ = Path(f"/proc/{worker.proc.pid}/environ").read_bytes().decode()
    assert "secret-token" not in environ and "RAY_" not in environ
    limits = Path(f"/proc/{worker.proc.pid}/limits").read_text()
    assert "Max address space" in limits
    line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
    assert "unlimited" not in line


def test_bad_arguments_are_refused(scratch: tuple[Any, SqlService]) -> None:
    _, service = scratch
    with pytest.raises(QueryRejectedError, match="empty"):
        service.query("   ")
    with pytest.raises(QueryRejectedError, match="max_rows"):
        service.query("SELECT 1", max_rows=0)
    with pytest.raises(QueryRejectedError, match="timeout"):
        service.query("SELECT 1", timeout=-1)
    with pytest.raises(QueryRejectedError, match="params"):
        service.query("SELECT 1", params="x")  # type: ignore[arg-type]
    with pytest.raises(QueryRejectedError, match="no view named"):
        service.export("blobs")


def test_view_declarations_are_consistent() -> None:
    for view in VIEWS.values():
        names = [c.name for c in view.columns]
        assert len(names) == len(set(names)), view.name
        assert all(c.doc.endswith((".", ")")) for c in view.columns), view.name
        assert "dispatch_id" in names  # the key of the incremental copy


def test_worker_goes_away_with_its_result_manager(tmp_path: Path) -> None:
    # a process that starts a sandbox and dies without closing it, like a killed actor
    code = f"""
import os, sys
from covalent_ray.storage import repository as repo
from covalent_ray.storage.sql import SqlService
from pathlib import Path
con = repo.connect(Path({str(tmp_path / "results.duckdb")!r}))
service = SqlService(lambda: con.cursor(), root=Path({str(tmp_path / "sandbox")!r}))
service.query("SELECT 1")
print(service._worker.proc.pid, service._worker.directory, flush=True)
os._exit(0)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    pid, directory = done.stdout.split()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if (
            not Path(f"/proc/{pid}").exists()
            or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        ):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the orphaned SQL worker {pid} is still running")
    deadline = time.monotonic() + 5
    while Path(directory).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(directory).exists()


def test_leftovers_of_dead_workers_are_swept(tmp_path: Path) -> None:
    root = tmp_path / "sandbox"
    dead = root / "worker-dead"
    dead.mkdir(parents=True)
    (dead / "views.duckdb").write_bytes(b"old copy")
    (dead / "in-use.lock").touch()
    con = repo.connect(tmp_path / "results.duckdb")
    first = SqlService(lambda: con.cursor(), root=root)
    second = SqlService(lambda: con.cursor(), root=root)
    try:
        first.query("SELECT 1")
        assert not dead.exists()
        assert first._worker is not None
        live = Path(first._worker.directory)
        second.query("SELECT 1")  # its sweep must spare the live worker's directory
        assert live.exists() and _rows(first.query("SELECT 2 AS x")) == [{"x": 2}]
        first.close()
        assert not live.exists()
    finally:
        first.close()
        second.close()
        con.close()
