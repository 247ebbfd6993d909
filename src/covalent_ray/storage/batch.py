"""A batch of result writes, applied to the database in one transaction.

The result manager gathers whatever arrives while the previous commit runs (new
dispatches, electron states, attempts, dispatch ends, blobs) into one ``WriteBatch``;
``write_batch`` stores it, or nothing of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.messages import AttemptRow
from . import repository as repo
from .blobs import BlobStore
from .transaction import transaction


@dataclass
class WriteBatch:
    """Writes waiting for the next group commit."""

    # (dispatch row, node rows, edge rows) of each new dispatch
    registrations: list[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]] = field(
        default_factory=list
    )
    blobs: dict[str, bytes] = field(default_factory=dict)
    # blobs their maker wrote as files already: key -> (size, path)
    files: dict[str, tuple[int, str]] = field(default_factory=dict)
    # (dispatch_id, node_id) -> the node's state columns; a later state replaces an earlier
    nodes: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    dispatch_updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    attempts: list[AttemptRow] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.registrations or self.nodes or self.dispatch_updates or self.attempts)


def write_batch(con: Any, blobs: BlobStore, batch: WriteBatch) -> None:
    """Apply ``batch`` in one transaction (blobs first: rows refer to them)."""
    with transaction(con):
        blobs.put_many(con, batch.blobs, batch.files)
        repo.insert_dispatches(con, batch.registrations)
        if batch.nodes:
            repo.update_nodes(
                con,
                [
                    {"dispatch_id": d, "node_id": n, **state}
                    for (d, n), state in batch.nodes.items()
                ],
            )
        repo.insert_attempts(con, batch.attempts)
        repo.update_dispatches(con, batch.dispatch_updates)
