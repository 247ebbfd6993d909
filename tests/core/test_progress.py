"""A dispatch's progress kept from the change feed: counts move forward only."""

from __future__ import annotations

from covalent_ray._status import Status
from covalent_ray.core.progress import Progress


def _progress() -> Progress:
    nodes = [
        {"node_id": 0, "kind": "parameter", "status": "COMPLETED"},
        {"node_id": 1, "kind": "electron", "status": "NEW_OBJECT"},
        {"node_id": 2, "kind": "electron", "status": "NEW_OBJECT"},
        {"node_id": 3, "kind": "electron_list", "status": "NEW_OBJECT"},
    ]
    return Progress.from_nodes("d1", "RUNNING", nodes)


def test_counts_electrons_not_parameters() -> None:
    p = _progress()
    assert p.total == 3 and p.finished == 0 and not p.ended
    assert p.counts == {"NEW_OBJECT": 3}
    assert p.summary() == "0/3 done: NEW_OBJECT 3"


def test_changes_move_counts_and_the_end_is_seen() -> None:
    p = _progress()
    assert p.apply(
        [
            {"type": "electron", "dispatch_id": "d1", "node_id": 1, "status": "RUNNING"},
            {"type": "electron", "dispatch_id": "d1", "node_id": 2, "status": "COMPLETED"},
            {"type": "electron", "dispatch_id": "other", "node_id": 3, "status": "FAILED"},
        ]
    )
    assert p.counts == {"NEW_OBJECT": 1, "RUNNING": 1, "COMPLETED": 1} and p.finished == 1
    p.apply(
        [
            {"type": "electron", "dispatch_id": "d1", "node_id": 1, "status": "FAILED"},
            {"type": "electron", "dispatch_id": "d1", "node_id": 3, "status": "CANCELLED"},
            {"type": "dispatch", "dispatch_id": "d1", "status": "FAILED"},
        ]
    )
    assert p.finished == 3 and p.ended and p.status is Status.FAILED
    assert p.summary() == "3/3 done: COMPLETED 1, FAILED 1, CANCELLED 1"


def test_stale_or_repeated_changes_change_nothing() -> None:
    p = _progress()
    done = {"type": "electron", "dispatch_id": "d1", "node_id": 1, "status": "COMPLETED"}
    assert p.apply([done])
    late = {"type": "electron", "dispatch_id": "d1", "node_id": 1, "status": "RUNNING"}
    assert not p.apply([done, late])  # seen twice, then an older state arriving late
    assert p.nodes[1] is Status.COMPLETED
    unknown = {"type": "electron", "dispatch_id": "d1", "node_id": 99, "status": "RUNNING"}
    assert not p.apply([unknown, {"type": "deleted", "dispatch_id": "d1"}])
