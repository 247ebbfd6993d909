"""What triggers decide, without threads or Ray."""

from __future__ import annotations

import pytest

from covalent_ray.core.triggers import EventBatch, FiringAction, event_names, firing_action


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
