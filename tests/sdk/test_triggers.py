"""Covalent's triggers observe and fire (with a firing function instead of a service)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import covalent_ray as ct

DEADLINE_S = 60.0


class Firings:
    """A firing function that records each firing and opens a gate at the n-th."""

    def __init__(self, n: int) -> None:
        self.ids: list[str] = []
        self.reached = threading.Event()
        self.n = n
        self.lock = threading.Lock()

    def __call__(self, trig: ct.triggers.BaseTrigger) -> str:
        with self.lock:
            new_id = f"{trig.lattice_dispatch_id}-run{len(self.ids)}"
            self.ids.append(new_id)
            if len(self.ids) >= self.n:
                self.reached.set()
        return new_id


def test_dir_trigger_fires_once_per_batch_of_created_files(tmp_path: Path) -> None:
    watched = tmp_path / "inbox"
    watched.mkdir()
    trig = ct.triggers.DirTrigger(str(watched), event_names="created", batch_size=2)
    trig.lattice_dispatch_id = "d1"
    fire = trig._fire = Firings(2)
    trig.observe()
    try:
        for i in range(4):
            (watched / f"f{i}.txt").write_text(str(i))
        assert fire.reached.wait(DEADLINE_S), f"fired {fire.ids} for four files"
    finally:
        trig.stop()
    assert fire.ids == ["d1-run0", "d1-run1"]  # four files, batches of two
    assert trig.new_dispatch_ids == fire.ids


def test_time_trigger_fires_repeatedly_until_stopped() -> None:
    trig = ct.triggers.TimeTrigger(time_gap=0.01, lattice_dispatch_id="d2")
    fire = trig._fire = Firings(2)
    observer = threading.Thread(target=trig.observe, daemon=True)
    observer.start()
    assert fire.reached.wait(DEADLINE_S)
    trig.stop()
    observer.join(DEADLINE_S)
    assert not observer.is_alive()  # observe returned: no firing comes after stop
    count = len(fire.ids)
    assert count >= 2 and trig.new_dispatch_ids == fire.ids


def test_a_custom_trigger_subclasses_base_trigger() -> None:
    class OnDemand(ct.triggers.BaseTrigger):
        def observe(self) -> None:
            self.trigger()

        def stop(self) -> None:
            pass

    trig = OnDemand(lattice_dispatch_id="d3")
    trig._fire = Firings(1)
    trig.observe()
    assert trig.new_dispatch_ids == ["d3-run0"]
    assert trig.to_dict()["name"] == "OnDemand"
    assert trig.to_dict()["lattice_dispatch_id"] == "d3"


def test_a_trigger_without_a_dispatch_refuses_to_fire() -> None:
    trig = ct.triggers.TimeTrigger(time_gap=1)
    with pytest.raises(RuntimeError, match="lattice_dispatch_id"):
        trig.trigger()


def test_dir_trigger_refuses_unknown_event_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose among"):
        ct.triggers.DirTrigger(str(tmp_path), event_names=["renamed"])


def test_a_trigger_travels_to_the_service_without_what_observes(tmp_path: Path) -> None:
    import cloudpickle

    trig = ct.triggers.TimeTrigger(time_gap=0.01, lattice_dispatch_id="d3")
    trig._fire = Firings(1)
    observer = threading.Thread(target=trig.observe, daemon=True)
    observer.start()
    assert trig._fire.reached.wait(DEADLINE_S)
    trig.stop()
    observer.join(DEADLINE_S)
    copy = cloudpickle.loads(cloudpickle.dumps(trig))  # its stop flag (a lock) stays here
    assert (copy.time_gap, copy.lattice_dispatch_id) == (0.01, "d3")
    assert copy._fire is None and copy.stop_flag is None
    watcher = ct.triggers.DirTrigger(str(tmp_path), "created")
    watcher.observe()
    try:
        copy = cloudpickle.loads(cloudpickle.dumps(watcher))
    finally:
        watcher.stop()
    copy.stop()  # never observed there: stopping is a no-op, not an error
    assert copy.dir_path == str(tmp_path.resolve())


def test_a_lattice_takes_one_trigger_or_a_list_and_pickles_without_them() -> None:
    import cloudpickle

    one = ct.triggers.TimeTrigger(time_gap=1)

    @ct.lattice(triggers=one)
    def workflow() -> int:
        return 1

    assert workflow.triggers == [one]
    assert cloudpickle.loads(cloudpickle.dumps(workflow)).triggers is None
    with pytest.raises(TypeError, match="BaseTrigger"):
        from covalent_ray.sdk.triggers import trigger_spec

        trigger_spec("every minute", "d4")  # type: ignore[arg-type]


def _jobs_db(path: Path, statuses: list[str]) -> None:
    import sqlite3

    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, status TEXT)")
        con.executemany("INSERT INTO jobs (status) VALUES (?)", [(s,) for s in statuses])
    con.close()


class PollLog:
    """Wraps a database trigger's queries and firings: records each poll's answer
    (True/False, "error") and each "fire" in order, and opens gates on counts."""

    def __init__(self, trig: ct.triggers.BaseTrigger) -> None:
        self.events: list[object] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        connect = trig._connect  # type: ignore[attr-defined]

        def recording_connect():  # type: ignore[no-untyped-def]
            has_rows, close = connect()

            def recorded(query: str) -> bool:
                try:
                    found = has_rows(query)
                except Exception:
                    self._add("error")
                    raise
                self._add(found)
                return found

            return recorded, close

        trig._connect = recording_connect  # type: ignore[attr-defined]
        trig._fire = self._fire

    def _add(self, event: object) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def _fire(self, trig: ct.triggers.BaseTrigger) -> str:
        self._add("fire")
        with self.lock:
            return f"{trig.lattice_dispatch_id}-run{self.events.count('fire')}"

    def wait_for(self, what: object, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.events.count(what) >= count, DEADLINE_S), (
                f"{what!r} not seen {count} times in {self.events}"
            )


def _observing(trig: ct.triggers.BaseTrigger) -> threading.Thread:
    observer = threading.Thread(target=trig.observe, daemon=True)
    observer.start()
    return observer


def _stopped(trig: ct.triggers.BaseTrigger, observer: threading.Thread) -> None:
    trig.stop()
    observer.join(DEADLINE_S)
    assert not observer.is_alive()  # observe returned: no firing comes after stop


def _fired_every_nth_poll_with_rows(events: list[object], n: int) -> None:
    """Each firing follows exactly ``n`` polls that found rows since the previous one."""
    with_rows = 0
    for event in events:
        if event is True:
            with_rows += 1
        elif event == "fire":
            assert with_rows == n, events
            with_rows = 0


def test_sqlite_trigger_fires_on_every_n_th_poll_finding_matching_rows(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    _jobs_db(db, ["done", "done"])
    trig = ct.triggers.SQLiteTrigger(
        str(db),
        "jobs",
        poll_interval=0.01,
        where_clauses=["status = 'new'", "id > 0"],
        trigger_after_n=2,
        lattice_dispatch_id="d5",
    )
    log = PollLog(trig)
    observer = _observing(trig)
    try:
        log.wait_for(False, 3)  # polled three times: only rows that do not match
        assert "fire" not in log.events
        _jobs_db(db, ["new"])  # committed by another connection: the next poll sees it
        log.wait_for("fire", 2)
    finally:
        _stopped(trig, observer)
    _fired_every_nth_poll_with_rows(log.events, 2)
    assert trig.new_dispatch_ids[:2] == ["d5-run1", "d5-run2"]
    assert "error" not in log.events


def test_sqlite_trigger_waits_for_a_database_it_never_creates(tmp_path: Path) -> None:
    db = tmp_path / "later.db"
    trig = ct.triggers.SQLiteTrigger(db, "jobs", poll_interval=0.01, lattice_dispatch_id="d6")
    log = PollLog(trig)
    observer = _observing(trig)
    try:
        log.wait_for("error", 2)  # no file yet: the polls fail, the trigger keeps going
        assert not db.exists()
        _jobs_db(db, [])  # a table without rows: still nothing
        log.wait_for(False, 2)
        _jobs_db(db, ["new"])
        log.wait_for("fire", 1)
    finally:
        _stopped(trig, observer)
    assert trig.new_dispatch_ids[0] == "d6-run1"


def test_a_relative_sqlite_path_is_the_one_where_the_trigger_was_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert ct.triggers.SQLiteTrigger("jobs.db", "jobs").db_path == str(tmp_path / "jobs.db")
    url = ct.triggers.DatabaseTrigger("sqlite:///jobs.db", "jobs").db_path
    assert url == f"sqlite:///{tmp_path / 'jobs.db'}"


def test_database_trigger_polls_through_sqlalchemy(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    _jobs_db(db, ["done"])
    trig = ct.triggers.DatabaseTrigger(
        f"sqlite:///{db}",
        "jobs",
        poll_interval=0.01,
        where_clauses="status = 'new'",
        lattice_dispatch_id="d7",
    )
    log = PollLog(trig)
    observer = _observing(trig)
    try:
        log.wait_for(False, 2)
        _jobs_db(db, ["new"])
        log.wait_for("fire", 2)  # rows that still match fire again (Covalent's behaviour)
    finally:
        _stopped(trig, observer)
    _fired_every_nth_poll_with_rows(log.events, 1)
    assert "error" not in log.events


def test_database_trigger_refuses_a_bad_url_or_settings_when_made() -> None:
    with pytest.raises(Exception, match="parse"):
        ct.triggers.DatabaseTrigger("not a url", "jobs")
    with pytest.raises(ValueError, match="poll_interval"):
        ct.triggers.DatabaseTrigger("sqlite://", "jobs", poll_interval=0)
    with pytest.raises(ValueError, match="trigger_after_n"):
        ct.triggers.SQLiteTrigger("jobs.db", "jobs", trigger_after_n=0)
    with pytest.raises(ValueError, match="table"):
        ct.triggers.SQLiteTrigger("jobs.db", "")


def test_database_trigger_without_sqlalchemy_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # import sqlalchemy fails
    with pytest.raises(ImportError, match=r"pip install 'covalent-ray\[db\]'"):
        ct.triggers.DatabaseTrigger("postgresql://bob:pw@db/app", "jobs")


def test_a_database_urls_password_is_kept_for_polling_but_never_shown() -> None:
    import cloudpickle

    from covalent_ray.sdk.triggers import trigger_spec

    trig = ct.triggers.DatabaseTrigger("postgresql://bob:s3cret@db.internal/app", "jobs")
    spec = trigger_spec(trig, "d8")
    assert spec.settings["db_path"] == "postgresql://bob:***@db.internal/app"
    assert "s3cret" not in repr(spec.settings)
    assert spec.kind == "DatabaseTrigger" and spec.settings["table_name"] == "jobs"
    assert cloudpickle.loads(spec.data).db_path == "postgresql://bob:s3cret@db.internal/app"


class FakeClock:
    """``time.monotonic`` and a stop flag whose ``wait`` advances it: the waits a trigger
    asks for are recorded, and no real time passes."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []
        self.stopped = False

    def monotonic(self) -> float:
        return self.now

    def wait(self, timeout: float) -> bool:
        self.waits.append(round(timeout, 6))
        self.now += timeout
        return self.stopped

    def is_set(self) -> bool:
        return self.stopped

    def set(self) -> None:
        self.stopped = True


def test_a_time_trigger_keeps_to_its_schedule_however_long_a_firing_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from covalent_ray.sdk import triggers

    clock = FakeClock()
    monkeypatch.setattr(triggers.time, "monotonic", clock.monotonic)
    trig = ct.triggers.TimeTrigger(time_gap=2, lattice_dispatch_id="d9")
    trig.stop_flag = clock  # type: ignore[assignment]
    durations = iter([0.5, 0.5, 3.0, 0.25])  # how long each firing takes the service
    fired_at: list[float] = []

    def fire(t: ct.triggers.BaseTrigger) -> str:
        fired_at.append(clock.now - 100.0)
        clock.now += next(durations)
        if len(fired_at) == 4:
            clock.set()
        return f"run{len(fired_at)}"

    trig._fire = fire
    trig.observe()
    # at 2, 4, 6 as scheduled; the third took 3 s, so the next comes a full gap later
    assert fired_at == [2.0, 4.0, 6.0, 11.0]
    assert clock.waits == [2.0, 1.5, 1.5, 2.0, 1.75]
