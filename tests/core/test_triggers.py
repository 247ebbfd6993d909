"""What triggers decide, without threads or Ray."""

from __future__ import annotations

from datetime import datetime

import pytest

from covalent_ray.core.triggers import (
    EventBatch,
    FiringAction,
    TriggerSpec,
    TriggerState,
    event_names,
    firing_action,
    lineage,
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
