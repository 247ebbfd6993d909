"""What triggers decide, without threads or Ray."""

from __future__ import annotations

from datetime import datetime

import pytest

from covalent_ray.core.triggers import (
    EventBatch,
    FiringAction,
    PollCount,
    TriggerSpec,
    TriggerState,
    event_names,
    firing_action,
    hide_url_password,
    lineage,
    poll_query,
    positive_interval,
    public_row,
    readable_settings,
    trigger_line,
    trigger_row,
)


def test_event_names_accepts_one_name_or_a_list_and_refuses_unknown_ones() -> None:
    assert event_names("modified") == ["modified"]
    assert event_names(["created", "deleted"]) == ["created", "deleted"]
    with pytest.raises(ValueError, match="choose among"):
        event_names(["created", "renamed"])


def test_a_batch_fires_on_every_batch_size_th_matching_event() -> None:
    batch = EventBatch(("created",), batch_size=3)
    seen = [batch.add(e) for e in ["created", "modified", "created", "created", "created"]]
    assert seen == [False, False, False, True, False]
    assert batch.pending == 1


def test_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        EventBatch(("created",), batch_size=0)


def test_a_dispatch_registered_without_running_is_started_by_its_first_firing() -> None:
    assert firing_action("NEW_OBJECT") is FiringAction.START
    assert firing_action("COMPLETED") is FiringAction.REDISPATCH
    assert firing_action("RUNNING") is FiringAction.REDISPATCH


def test_a_registered_trigger_is_stored_active_with_readable_settings() -> None:
    settings = readable_settings(
        {
            "dir_path": "/data",
            "event_names": ["created"],
            "batch_size": 2,
            "new_dispatch_ids": ["a"],
            "stop_flag": object(),
            "_observer": None,
            "custom": {1, 2},
            "name": "DirTrigger",
        }
    )
    assert settings == {
        "dir_path": "/data",
        "event_names": ["created"],
        "batch_size": 2,
        "custom": "{1, 2}",
    }
    now = datetime(2026, 1, 2, 3, 4, 5)
    row = trigger_row(TriggerSpec("t1", "d1", "DirTrigger", settings, b"pickled"), now)
    assert row["state"] == TriggerState.ACTIVE == "active"
    assert (row["trigger_id"], row["dispatch_id"], row["trigger_data"]) == ("t1", "d1", b"pickled")
    shown = public_row({**row, "firings": 3, "error": None})
    assert "trigger_data" not in shown
    assert shown["created_at"] == "2026-01-02T03:04:05" and shown["settings"] == settings
    assert trigger_line(shown) == (
        "DirTrigger of d1 (dir_path='/data', event_names=['created'], batch_size=2): fired 3 times"
    )


def test_a_firings_dispatch_records_where_it_came_from() -> None:
    assert lineage("d1", "t1") == {"triggered_by": "d1", "trigger_id": "t1"}
    assert lineage(None, None) == {"triggered_by": None, "trigger_id": None}


def test_a_database_trigger_selects_everything_from_its_table_with_its_clauses_anded() -> None:
    assert poll_query("jobs") == "SELECT * FROM jobs"
    assert poll_query("jobs", ["id > 2", "status = 'new' OR status = 'retry'"]) == (
        "SELECT * FROM jobs WHERE (id > 2) AND (status = 'new' OR status = 'retry')"
    )
    assert poll_query("jobs", "id > 2") == "SELECT * FROM jobs WHERE (id > 2)"
    with pytest.raises(ValueError, match="name of a table"):
        poll_query(" ")
    with pytest.raises(ValueError, match="SQL conditions as strings"):
        poll_query("jobs", ["id > 2", 3])  # type: ignore[list-item]


def test_a_database_trigger_fires_on_every_n_th_poll_that_found_rows() -> None:
    count = PollCount(trigger_after_n=2)
    polls = [True, False, True, True, False, True, True]
    assert [count.add(found) for found in polls] == [False, False, True, False, False, True, False]
    assert [PollCount(1).add(found) for found in (True, False, True)] == [True, False, True]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="trigger_after_n"):
            PollCount(bad)  # type: ignore[arg-type]


def test_a_poll_interval_must_be_a_positive_number() -> None:
    assert positive_interval(0.5, "poll_interval") == 0.5
    for bad in (0, -1, "1", None):
        with pytest.raises(ValueError, match="poll_interval must be a positive number"):
            positive_interval(bad, "poll_interval")  # type: ignore[arg-type]


def test_a_database_urls_password_is_hidden_for_display() -> None:
    assert hide_url_password("postgresql+psycopg://bob:s3cr@t@db:5432/app") == (
        "postgresql+psycopg://bob:***@db:5432/app"
    )
    assert hide_url_password("mssql+pyodbc://h/db?UID=bob&PWD=secret&driver=x") == (
        "mssql+pyodbc://h/db?UID=bob&PWD=***&driver=x"
    )
    for plain in ("sqlite:////tmp/jobs.db", "mysql://bob@host/db", "/tmp/jobs.db"):
        assert hide_url_password(plain) == plain


def test_a_database_triggers_status_line_says_what_it_polls() -> None:
    row = {
        "kind": "SQLiteTrigger",
        "dispatch_id": "d1",
        "settings": {
            "db_path": "/data/jobs.db",
            "table_name": "jobs",
            "poll_interval": 1,
            "where_clauses": ["id > 2"],
            "trigger_after_n": 2,
        },
        "firings": 1,
    }
    assert trigger_line(row) == (
        "SQLiteTrigger of d1 (db_path='/data/jobs.db', table_name='jobs', "
        "where_clauses=['id > 2'], trigger_after_n=2): fired 1 time"
    )
