"""Triggers registered with the service: ``ct.lattice(triggers=...)``, ``disable_run``,
firings as new dispatches with their lineage in SQL, and ``ct.stop_triggers``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import covalent_ray as ct
from covalent_ray.client.connect import call

pytestmark = pytest.mark.usefixtures("service")

DEADLINE_S = 120.0


def _feed(since: int, timeout: float) -> dict[str, Any]:
    return dict(
        call(
            lambda conn, _: conn.result_manager.changes.remote(since, timeout),
            "reading the change feed",
        )
    )


def _cursor() -> int:
    return int(_feed(2**62, 0.0)["seq"])


def _new_dispatches(since: int, want: Callable[[list[str]], bool], deadline_s: float) -> list[str]:
    """IDs of dispatches registered after feed position ``since``, waiting on the feed
    (no polling) until ``want(ids)`` holds or the deadline passes."""
    ids: list[str] = []
    deadline = time.monotonic() + deadline_s
    while not want(ids):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        news = _feed(since, min(remaining, 10.0))
        since = news["seq"]
        for change in news["changes"]:
            if (
                change["type"] == "dispatch"
                and change["status"] == ct.status.RUNNING
                and change["dispatch_id"] not in ids
            ):
                ids.append(change["dispatch_id"])
    return ids


def _triggered_by(dispatch_id: str) -> list[dict[str, Any]]:
    rows = ct.sql(
        "SELECT dispatch_id, trigger_id, status FROM dispatches WHERE triggered_by = ? "
        "ORDER BY created_at",
        [dispatch_id],
    )
    return [dict(r) for r in rows]


@ct.electron
def count_files(folder: str) -> int:
    return len(list(Path(folder).iterdir()))


def test_a_dir_trigger_starts_the_registered_dispatch_then_runs_it_again(tmp_path: Path) -> None:
    watched = tmp_path / "inbox"
    watched.mkdir()

    @ct.lattice(triggers=ct.triggers.DirTrigger(str(watched), event_names="created"))
    def on_new_file(folder: str) -> int:
        return count_files(folder)

    dispatch_id = ct.dispatch(on_new_file, disable_run=True)(str(watched))
    try:
        assert ct.get_result(dispatch_id, status_only=True)["status"] == ct.status.NEW_OBJECT
        listed = call(
            lambda conn, _: conn.result_manager.triggers.remote(dispatch_id=dispatch_id),
            "listing triggers",
        )
        assert [(t["kind"], t["state"]) for t in listed] == [("DirTrigger", "active")]

        (watched / "first.txt").write_text("1")  # the first firing runs the dispatch itself
        first = ct.get_result(dispatch_id, wait=True, timeout=DEADLINE_S)
        assert first.status == ct.status.COMPLETED, first.error
        assert first.result >= 1

        cursor = _cursor()
        (watched / "second.txt").write_text("2")  # a later one is a new dispatch
        [again] = _new_dispatches(cursor, lambda ids: len(ids) >= 1, DEADLINE_S)
        assert again != dispatch_id
        second = ct.get_result(again, wait=True, timeout=DEADLINE_S)
        assert second.status == ct.status.COMPLETED, second.error
        assert second.result == 2
        lineage = _triggered_by(dispatch_id)
        assert [r["dispatch_id"] for r in lineage] == [again]
        assert lineage[0]["trigger_id"] == listed[0]["trigger_id"]
    finally:
        stopped = ct.stop_triggers(dispatch_id)
    assert len(stopped) == 1
    listed = call(
        lambda conn, _: conn.result_manager.triggers.remote(dispatch_id=dispatch_id),
        "listing triggers",
    )
    assert [t["state"] for t in listed] == ["stopped"]
    assert listed[0]["firings"] == 2


@ct.electron
def stamp() -> str:
    return "fired"


@ct.lattice
def stamped() -> str:
    return stamp()


def test_a_time_trigger_fires_until_stop_triggers_stops_it() -> None:
    dispatch_id = ct.dispatch(stamped)()  # ran at once; its trigger then runs it again
    assert ct.get_result(dispatch_id, wait=True, timeout=DEADLINE_S).result == "fired"
    cursor = _cursor()
    trig = ct.triggers.TimeTrigger(time_gap=0.2, lattice_dispatch_id=dispatch_id)
    trig.register()
    fired = _new_dispatches(cursor, lambda ids: len(ids) >= 2, DEADLINE_S)
    stopped = ct.stop_triggers([dispatch_id])
    assert len(stopped) == 1
    assert len(fired) >= 2
    for new_id in fired:
        result = ct.get_result(new_id, wait=True, timeout=DEADLINE_S)
        assert result.status == ct.status.COMPLETED and result.result == "fired"
    # once stop_triggers has returned no firing starts: the feed stays quiet for ten gaps
    after = _cursor()
    assert _new_dispatches(after, lambda ids: False, 2.0) == []
    assert {r["dispatch_id"] for r in _triggered_by(dispatch_id)} >= set(fired)


def _jobs_db(path: Path, statuses: list[str]) -> None:
    import sqlite3

    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, status TEXT)")
        con.executemany("INSERT INTO jobs (status) VALUES (?)", [(s,) for s in statuses])
    con.close()


@ct.electron
def pending_jobs(db: str) -> int:
    import sqlite3

    with sqlite3.connect(db) as con:
        (n,) = con.execute("SELECT count(*) FROM jobs WHERE status = 'new'").fetchone()
    con.close()
    return int(n)


def test_a_sqlite_trigger_runs_the_dispatch_when_matching_rows_appear(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    _jobs_db(db, ["done"])
    trig = ct.triggers.SQLiteTrigger(
        str(db), "jobs", poll_interval=0.2, where_clauses=["status = 'new'"]
    )

    @ct.lattice(triggers=trig)
    def on_new_job(db: str) -> int:
        return pending_jobs(db)

    dispatch_id = ct.dispatch(on_new_job)(str(db))
    try:
        listed = call(
            lambda conn, _: conn.result_manager.triggers.remote(dispatch_id=dispatch_id),
            "listing triggers",
        )
        assert [(t["kind"], t["state"]) for t in listed] == [("SQLiteTrigger", "active")]
        assert listed[0]["settings"]["db_path"] == str(db)
        assert listed[0]["settings"]["where_clauses"] == ["status = 'new'"]
        # no matching row: the service polls but does not start the registered dispatch
        assert ct.get_result(dispatch_id, status_only=True)["status"] == ct.status.NEW_OBJECT
        cursor = _cursor()
        _jobs_db(db, ["new", "new"])
        first = ct.get_result(dispatch_id, wait=True, timeout=DEADLINE_S)
        assert first.status == ct.status.COMPLETED, first.error
        assert first.result == 2
        # the rows still match: later polls run it again, each a new dispatch
        again = _new_dispatches(cursor, lambda ids: len(set(ids) - {dispatch_id}) >= 1, DEADLINE_S)
        [rerun, *_] = [i for i in again if i != dispatch_id]
        assert ct.get_result(rerun, wait=True, timeout=DEADLINE_S).result == 2
        assert rerun in [r["dispatch_id"] for r in _triggered_by(dispatch_id)]
    finally:
        stopped = ct.stop_triggers(dispatch_id)
    assert len(stopped) == 1


def test_a_trigger_needs_a_dispatch_to_register() -> None:
    with pytest.raises(RuntimeError, match="lattice_dispatch_id"):
        ct.triggers.TimeTrigger(time_gap=1).register()


def _once_restarted(send: Callable[[], Any]) -> Any:
    """The answer of an actor call, sent again while the actor is being restarted (Ray
    fails the calls under way with ActorUnavailableError then)."""
    import ray
    from ray.exceptions import ActorUnavailableError

    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            return ray.get(send(), timeout=DEADLINE_S)
        except ActorUnavailableError:
            if time.monotonic() > deadline:
                raise


@pytest.mark.parametrize("kind", ["DirTrigger", "DatabaseTrigger"])
def test_a_trigger_runs_again_after_the_dispatcher_crashed(tmp_path: Path, kind: str) -> None:
    import os
    import signal

    import ray

    from covalent_ray.client.connect import connect

    watched = tmp_path / "inbox"
    watched.mkdir()
    db = tmp_path / "jobs.db"
    _jobs_db(db, [])
    if kind == "DirTrigger":
        trig: ct.triggers.BaseTrigger = ct.triggers.DirTrigger(str(watched), "created")
    else:  # the trigger is unpickled again from the triggers table, URL and all
        trig = ct.triggers.DatabaseTrigger(f"sqlite:///{db}", "jobs", poll_interval=0.2)

    @ct.lattice(triggers=trig)
    def after_crash(folder: str) -> int:
        return count_files(folder)

    dispatch_id = ct.dispatch(after_crash)(str(watched))
    try:
        dispatcher = connect().dispatcher
        [trigger_id] = ray.get(dispatcher.triggers.remote(), timeout=DEADLINE_S).keys() & {
            t["trigger_id"]
            for t in call(
                lambda conn, _: conn.result_manager.triggers.remote(dispatch_id=dispatch_id),
                "listing triggers",
            )
        }
        os.kill(ray.get(dispatcher.pid.remote()), signal.SIGKILL)  # its trigger actors die too
        # the restarted dispatcher runs the stored trigger again before it answers this
        assert trigger_id in _once_restarted(lambda: dispatcher.triggers.remote())
        (watched / "after.txt").write_text("1")
        _jobs_db(db, ["new"])
        result = ct.get_result(dispatch_id, wait=True, timeout=DEADLINE_S)
        assert result.status == ct.status.COMPLETED and result.result == 1
    finally:
        ct.stop_triggers(dispatch_id)
