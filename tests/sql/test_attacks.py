"""Hostile queries on every entry point (SDK, CLI, REST): each is refused or stopped with
a clear error, nothing is written anywhere, and the service keeps recording dispatches.

Each test stands alone (any order, any subset): the ``untouched`` fixture records the
database's state and the home's files before the test, and the test checks at its end that
its attacks changed none of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import covalent_ray as ct
from covalent_ray._exceptions import QueryError, QueryRejectedError
from covalent_ray.cli.main import app as cli_app
from covalent_ray.storage.sql import VIEWS

from . import workflows as wf

pytestmark = pytest.mark.usefixtures("service")

RUNAWAY = "SELECT count(*) FROM range(1000000000000) a(i)"


def attacks(target: Path) -> list[str]:
    """Queries that must be refused; ``target`` is a directory nothing may be written to."""
    return [
        # files and network
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_blob('/etc/hostname')",
        "SELECT * FROM '/etc/passwd'",
        f"SELECT * FROM read_parquet('{target}/*.parquet')",
        "SELECT * FROM read_json('https://example.com/data.json')",
        "SELECT * FROM glob('/*')",
        f"COPY electrons TO '{target}/copy.csv'",
        f"COPY (SELECT * FROM dispatches) TO '{target}/copy.parquet' (FORMAT parquet)",
        f"COPY dispatches FROM '{target}/in.csv'",
        f"ATTACH '{target}/evil.duckdb' AS evil",
        f"EXPORT DATABASE '{target}/dump'",
        # extensions and settings
        "INSTALL httpfs",
        "LOAD httpfs",
        "FORCE INSTALL spatial",
        "SET enable_external_access = true",
        "SET memory_limit = '100GB'",
        "RESET ALL",
        "PRAGMA threads = 64",
        "SET VARIABLE v = 1",
        "SELECT current_setting('home_directory')",
        # writes and DDL
        "DROP TABLE electrons",
        "DELETE FROM dispatches",
        "UPDATE electrons SET status = 'FAILED'",
        "INSERT INTO dispatches (dispatch_id) VALUES ('x')",
        "CREATE TABLE stolen AS SELECT * FROM dispatches",
        "ALTER TABLE dispatches ADD COLUMN x INTEGER",
        "TRUNCATE edges",
        "CHECKPOINT",
        "VACUUM",
        "BEGIN TRANSACTION",
        "DETACH DATABASE views",
        # beyond the views
        "SELECT * FROM blobs",
        "SELECT key, data FROM main.blobs",
        "SELECT * FROM meta",
        "SELECT * FROM duckdb_tables()",
        "SELECT * FROM information_schema.columns",
        "SHOW ALL TABLES",
        "SELECT * FROM query('SELECT * FROM blobs')",
        # a CTE named like what it shadows reads that in its own body: refused as that
        "WITH duckdb_databases AS (SELECT * FROM duckdb_databases) SELECT * FROM duckdb_databases",
        "WITH pg_settings AS (SELECT * FROM pg_settings) SELECT * FROM pg_settings",
        "WITH duckdb_tables AS (SELECT * FROM duckdb_tables) SELECT * FROM duckdb_tables",
        "WITH duckdb_columns AS (SELECT * FROM duckdb_columns) SELECT * FROM duckdb_columns",
        "WITH sqlite_master AS (SELECT * FROM sqlite_master) SELECT * FROM sqlite_master",
        "WITH pg_proc AS (SELECT * FROM pg_proc) SELECT * FROM pg_proc",
        "WITH blobs AS (SELECT * FROM blobs) SELECT key FROM blobs",
        "WITH RECURSIVE pg_settings AS (SELECT * FROM pg_settings) FROM pg_settings",
        "WITH a AS (FROM duckdb_databases), duckdb_databases AS (FROM a) FROM duckdb_databases",
        "SELECT * FROM (WITH pg_proc AS (SELECT 1) SELECT 1) s, pg_proc",
        "WITH read_text AS (SELECT 1) SELECT * FROM read_text('/etc/passwd')",
        # several statements
        "SELECT 1; DROP TABLE dispatches",
        f"SELECT count(*) FROM electrons; COPY electrons TO '{target}/x.csv'",
    ]


def _fingerprint(dispatch_ids: list[str]) -> dict[str, Any]:
    """What the views hold about these dispatches: row counts and a hash of every row."""
    out = {}
    for name, view in VIEWS.items():
        cols = ", ".join(c.name for c in view.columns)
        out[name] = ct.sql(
            f"SELECT count(*) AS n, sum(hash(({cols}))) AS h FROM {name} "
            "WHERE dispatch_id IN (SELECT unnest(?::VARCHAR[]))",
            [dispatch_ids],
        )[0]
    return out


def _files(home: Path) -> set[str]:
    # logs grow and the sandbox's own copy changes by design: everything else is checked
    return {
        str(p.relative_to(home))
        for p in home.rglob("*")
        if "logs" not in p.parts and "sql-sandbox" not in p.parts
    }


def _state(runs: dict[str, Any], home: Path) -> dict[str, Any]:
    """The views' rows of every finished dispatch, a stored result, the home's files."""
    finished = [
        r["dispatch_id"]
        for r in ct.sql(
            "SELECT dispatch_id FROM dispatches WHERE end_time IS NOT NULL", max_rows=100_000
        )
    ]
    return {
        "finished": finished,
        "views": _fingerprint(finished),
        "result": repr(ct.get_result(str(runs["mixed"])).result),
        "files": _files(home),
    }


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """A directory the attacks aim at: nothing may appear in it."""
    return tmp_path


@pytest.fixture
def untouched(runs: dict[str, Any], service_home: Path, target: Path) -> Callable[[], None]:
    """Records the state before the test; calling it asserts nothing changed since (new
    stored objects aside: other tests' dispatches may add some)."""
    before = _state(runs, service_home)
    assert len(before["finished"]) >= len(wf.GRID)

    def check() -> None:
        assert os.listdir(target) == []
        files = _files(service_home)
        assert files - before["files"] <= {p for p in files if p.startswith("objects")}
        assert repr(ct.get_result(str(runs["mixed"])).result) == before["result"]
        # every row about every dispatch finished before the attacks is exactly as it was
        assert _fingerprint(before["finished"]) == before["views"]

    return check


def test_sdk_refuses_every_attack(untouched: Callable[[], None], target: Path) -> None:
    for query in attacks(target):
        with pytest.raises(QueryRejectedError) as info:
            ct.sql(query)
        assert len(str(info.value)) > 20, query  # a reason, not just "no"
    started = time.perf_counter()
    with pytest.raises(QueryError, match="interrupted after 1 s"):
        ct.sql(RUNAWAY, timeout=1)
    assert time.perf_counter() - started < 10
    untouched()


def test_cli_refuses_every_attack(untouched: Callable[[], None], target: Path) -> None:
    runner = CliRunner()
    for query in attacks(target):
        result = runner.invoke(cli_app, ["sql", query])
        assert result.exit_code == 2, (query, result.output)
        assert "query refused:" in result.stderr and result.stdout == ""
    result = runner.invoke(cli_app, ["sql", RUNAWAY, "--timeout", "1", "--json"])
    assert result.exit_code == 1 and "interrupted after 1 s" in result.stderr
    untouched()


@pytest.mark.anyio
async def test_rest_refuses_every_attack(
    untouched: Callable[[], None], target: Path, client: httpx.AsyncClient
) -> None:
    for query in attacks(target):
        r = await client.post("/api/v1/sql", json={"query": query})
        assert r.status_code == 400, (query, r.text)
        assert r.json()["error"] == "QueryRejectedError" and r.json()["detail"]
    r = await client.post("/api/v1/sql", json={"query": RUNAWAY, "timeout": 1})
    assert r.status_code == 400 and r.json()["error"] == "QueryError"
    assert "interrupted after 1 s" in r.json()["detail"]
    untouched()


def test_the_service_still_writes_after_attacks(
    untouched: Callable[[], None], target: Path
) -> None:
    # a refused attack leaves the result manager writing, and queries see it at once
    for query in attacks(target)[:10]:
        with pytest.raises(QueryRejectedError):
            ct.sql(query)
    untouched()
    result = ct.dispatch_sync(wf.lr_depth_sweep)(0.2, 8)
    assert result.status == ct.status.COMPLETED
    row = ct.sql(
        "SELECT status, json_extract(inputs, '$.args') AS args FROM dispatches "
        "WHERE dispatch_id = ?",
        [result.dispatch_id],
    )
    assert [(r["status"], r["args"]) for r in row] == [("COMPLETED", [0.2, 8])]
