"""How far a dispatch has come: electrons by status, kept current from the change feed.

A :class:`Progress` starts from the statuses of a dispatch's nodes (parameters left out:
they are values, not work) and takes the change feed's records as they come. A node's
state only moves forward (``_status.advances``), so a change seen twice, or one that
arrives after a newer one, leaves the counts as they were.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._status import Status, advances


@dataclass
class Progress:
    """Electrons of one dispatch by status, and the dispatch's own status."""

    dispatch_id: str
    status: Status
    nodes: dict[int, Status] = field(default_factory=dict)

    @classmethod
    def from_nodes(
        cls, dispatch_id: str, status: str, nodes: Iterable[Mapping[str, Any]]
    ) -> Progress:
        """From the rows of a dispatch's graph (``node_id``, ``kind``, ``status``)."""
        return cls(
            dispatch_id,
            Status(status),
            {int(n["node_id"]): Status(n["status"]) for n in nodes if n.get("kind") != "parameter"},
        )

    def apply(self, changes: Iterable[Mapping[str, Any]]) -> bool:
        """Take the change feed's records (others' dispatches are ignored); True when
        one of them changed what is counted."""
        moved = False
        for c in changes:
            if c.get("dispatch_id") != self.dispatch_id or c.get("status") is None:
                continue
            new = Status(c["status"])
            if c.get("type") == "dispatch":
                if new != self.status and advances(self.status, new):
                    self.status, moved = new, True
            elif c.get("type") == "electron":
                node = int(c["node_id"])
                old = self.nodes.get(node)
                if old is None:  # a node the graph did not have yet (a parameter, or late)
                    continue
                if new != old and advances(old, new):
                    self.nodes[node], moved = new, True
        return moved

    @property
    def total(self) -> int:
        """Electrons in the dispatch."""
        return len(self.nodes)

    @property
    def counts(self) -> dict[str, int]:
        """Electrons by status name, in lifecycle order."""
        tally = Counter(self.nodes.values())
        return {s.value: tally[s] for s in Status if tally[s]}

    @property
    def finished(self) -> int:
        """Electrons in a terminal state."""
        return sum(1 for s in self.nodes.values() if s.is_terminal)

    @property
    def ended(self) -> bool:
        """Whether the dispatch itself has ended."""
        return self.status.is_terminal

    def summary(self) -> str:
        """``"3/10 done: COMPLETED 2, FAILED 1, RUNNING 4"``"""
        parts = ", ".join(f"{name} {n}" for name, n in self.counts.items())
        return f"{self.finished}/{self.total} done" + (f": {parts}" if parts else "")
