"""The consistency rules find what breaks them, and nothing in a sound database."""

from __future__ import annotations

from pathlib import Path

import duckdb

from covalent_ray.storage.consistency import CHECKS, check
from covalent_ray.storage.schema import migrate


def _db(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "r.duckdb"))
    migrate(con)
    con.execute(
        "INSERT INTO dispatches (dispatch_id, root_dispatch_id, name, status, created_at, "
        "end_time, num_nodes) VALUES ('d', 'd', 'wf', 'COMPLETED', now(), now(), 2)"
    )
    for n in (0, 1):
        con.execute(
            "INSERT INTO electrons (dispatch_id, node_id, name, kind, status) "
            "VALUES ('d', ?, 'f', 'electron', 'COMPLETED')",
            [n],
        )
    con.execute("INSERT INTO edges VALUES ('d', 0, 1, 'arg', 0, NULL)")
    con.execute(
        "INSERT INTO attempts (dispatch_id, node_id, attempt, status) VALUES "
        "('d', 0, 1, 'COMPLETED'), ('d', 1, 1, 'FAILED'), ('d', 1, 2, 'COMPLETED')"
    )
    return con


def _run(con: duckdb.DuckDBPyConnection):
    return lambda q: con.execute(q).fetchall()


def test_a_sound_database_breaks_no_rule(tmp_path: Path) -> None:
    assert check(_run(_db(tmp_path))) == {}


def test_each_rule_finds_its_breakage(tmp_path: Path) -> None:
    con = _db(tmp_path)
    con.execute(
        "INSERT INTO electrons (dispatch_id, node_id, name, kind, status) "
        "VALUES ('gone', 0, 'f', 'electron', 'RUNNING'), ('d', 2, 'g', 'electron', 'RUNNING'), "
        "('d', 3, 'h', 'electron', 'NEW_OBJECT')"  # never started (a failure upstream): fine
    )
    con.execute("INSERT INTO edges VALUES ('d', 1, 9, 'arg', 0, NULL)")
    con.execute(
        "INSERT INTO attempts (dispatch_id, node_id, attempt, status) VALUES "
        "('d', 7, 1, 'FAILED'), ('d', 0, 2, 'COMPLETED')"
    )
    con.execute(
        "INSERT INTO dispatches (dispatch_id, root_dispatch_id, name, status, created_at, "
        "num_nodes) VALUES ('e', 'e', 'wf', 'FAILED', now(), 0)"
    )
    broken = check(_run(con))
    assert set(broken) == set(CHECKS)
    assert broken["every electron belongs to a dispatch"] == [("gone", 0)]
    assert broken["every electron of an ended dispatch has ended"] == [("d", 2, "RUNNING")]
    assert broken["every edge joins two electrons of its dispatch"] == [("d", 1, 9)]
    assert broken["every attempt belongs to an electron"] == [("d", 7, 1)]
    assert broken["an ended dispatch has an end time"] == [("e", "FAILED")]
    assert broken["an electron completed at most once"] == [("d", 0, 2)]
