"""The result manager's in-memory view of a running dispatch (no Ray, no database)."""

from __future__ import annotations

from datetime import datetime

from covalent_ray.runtime.active import Active
from covalent_ray.storage import repository as repo

NOW = datetime(2026, 1, 2, 3, 4, 5)


def _active(**statuses: str) -> Active:
    nodes = {}
    for i, status in enumerate(statuses.values()):
        state = {c: None for c in repo.NODE_STATE_COLUMNS}
        state.update(status=status, attempt=0)
        nodes[i] = state
    kinds = {i: k.rstrip("0123456789") for i, k in enumerate(statuses)}
    return Active("d", nodes, kinds, {i: [] for i in nodes})


def test_ending_nodes_spares_ended_ones_and_pending_ones_unless_asked() -> None:
    a = _active(electron1="RUNNING", electron2="NEW_OBJECT", electron3="COMPLETED")
    a.nodes[0]["error"] = "its own error"
    assert a.end_nodes([0, 1, 2], "CANCELLED", "cancelled", False, NOW) == [0]
    assert a.nodes[0]["status"] == "CANCELLED" and a.nodes[0]["error"] == "its own error"
    assert a.nodes[0]["end_time"] == NOW and a.changed.is_set()
    assert a.end_nodes([0, 1, 2], "CANCELLED", "cancelled", True, NOW) == [1]
    assert (a.nodes[1]["status"], a.nodes[1]["error"]) == ("CANCELLED", "cancelled")
    assert a.nodes[2]["status"] == "COMPLETED"


def test_stragglers_end_completed_but_skipped_nodes_and_parameters_stay() -> None:
    a = _active(parameter0="COMPLETED", electron1="RUNNING", electron2="NEW_OBJECT")
    assert not a.all_ended(skipped={2})
    assert a.close_stragglers(skipped={2}, now=NOW) == [1]
    assert a.nodes[1]["status"] == "COMPLETED" and "record was lost" in a.nodes[1]["error"]
    assert a.nodes[2]["status"] == "NEW_OBJECT"
    assert a.all_ended(skipped={2})
