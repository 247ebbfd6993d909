"""The result manager's in-memory view of the dispatches it is writing.

- ``Active``: an unfinished dispatch: each node's state columns, kinds and children (to
  know which electrons a failure skipped), and an event set on every change (a dispatch's
  end waits on it for its electrons' last records).
- ``Memo``: the rows and blobs ``get_result`` would read for a dispatch, built while it
  runs, so that a just-ended dispatch is answered from memory; dropped once it holds more
  than ``MEMO_BYTES`` or has sublattices (those are read back with it).
- ``Active.held``: the electrons' status changes for the change feed while the
  dispatch's registration is being committed, published right after it.
- ``Ended``: set once a dispatch's end is committed; carries its final status.

None of this is the only copy of a committed fact: a restarted manager rebuilds an
``Active`` from the database on demand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from .._status import Status
from ..core.graph import NodeKind
from ..core.manifest import DispatchManifest
from ..core.messages import (
    AttemptRow,
    DispatchRow,
    EdgeRow,
    NodeRow,
    ResultRecord,
)
from ..storage import repository as repo
from ..storage.rows import Registration

MEMO_BYTES = 4_000_000  # a dispatch whose stored values exceed this is read back instead


@dataclass
class Memo:
    """The rows and blobs of a dispatch, as ``get_result`` reads them, built in memory."""

    row: dict[str, Any]  # the dispatch's columns known at registration
    static: dict[int, dict[str, Any]]  # node_id -> name, kind, executor...
    blobs: dict[str, bytes]
    attempts: dict[int, list[AttemptRow]] = field(default_factory=dict)
    size: int = 0

    def keep(self, key: str | None, data: bytes | None) -> bool:
        """Hold a blob; False once the dispatch holds too much to be kept."""
        if key is None or data is None:
            return True
        self.size += len(data)
        self.blobs[key] = data
        return self.size <= MEMO_BYTES

    def record(self, update: dict[str, Any], nodes: dict[int, dict[str, Any]]) -> ResultRecord:
        """What ``get_result`` answers for the ended dispatch."""
        row: dict[str, Any] = {c: None for c in repo.DISPATCH_COLUMNS}
        row.update(self.row)
        row.update(update)
        node_rows = []
        for n in sorted(nodes):
            node: dict[str, Any] = {c: None for c in repo.NODE_COLUMNS}
            node.update(self.static[n])
            node.update(nodes[n])
            node["attempts"] = list(self.attempts.get(n, []))
            node_rows.append(node)
        return {
            "dispatch": cast(DispatchRow, row),
            "nodes": cast(list[NodeRow], node_rows),
            "edges": None,
            "children": [],
            "blobs": dict(self.blobs),
        }


@dataclass
class Active:
    """In-memory view of an unfinished dispatch."""

    dispatch_id: str
    nodes: dict[int, dict[str, Any]]  # node_id -> state columns (``NodeState``)
    kinds: dict[int, str]
    children: dict[int, list[int]]
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # What ``get_result`` returns, kept while small so that a dispatch's end can be
    # answered from memory (no reads) right after it is committed; None: not kept.
    memo: Memo | None = None
    # electron changes for the feed, held while the registration is being committed
    held: list[dict[str, Any]] | None = None
    # node_id -> the executor of each electron and sublattice (its metrics' label)
    executors: dict[int, str] = field(default_factory=dict)

    @classmethod
    def registered(
        cls,
        manifest: DispatchManifest,
        rows: Registration,
        reused: dict[int, dict[str, Any]] | None,
    ) -> Active:
        """The view of a dispatch being registered, with its memo while its inputs,
        lattice, parameters and reused outputs are small enough to keep."""
        g = manifest.graph
        memo = Memo(
            dict(rows.dispatch),
            {
                n["node_id"]: {
                    k: n[k] for k in ("dispatch_id", "node_id", "name", "kind", "executor")
                }
                for n in rows.nodes
            },
            {},
        )
        wanted = [
            manifest.inputs,
            manifest.lattice,
            *(n.value for n in g.nodes if n.kind is NodeKind.PARAMETER),
            *(r["output_blob"] for r in (reused or {}).values()),
        ]
        kept = all(k in manifest.blobs and memo.keep(k, manifest.blobs[k]) for k in wanted if k)
        return cls(
            manifest.dispatch_id,
            rows.states,
            rows.kinds,
            g.children(),
            memo=memo if kept else None,
            executors={n["node_id"]: n["executor"] for n in rows.nodes if n["executor"]},
        )

    @classmethod
    def from_rows(
        cls,
        dispatch_id: str,
        node_rows: list[NodeRow],
        edge_rows: list[EdgeRow],
    ) -> Active:
        """The view of an unfinished dispatch rebuilt from its stored rows (no memo)."""
        states = {
            r["node_id"]: {c: cast(dict[str, Any], r)[c] for c in repo.NODE_STATE_COLUMNS}
            for r in node_rows
        }
        kinds = {r["node_id"]: r["kind"] for r in node_rows}
        children: dict[int, list[int]] = {r["node_id"]: [] for r in node_rows}
        for e in edge_rows:
            if e["child_node_id"] not in children[e["parent_node_id"]]:
                children[e["parent_node_id"]].append(e["child_node_id"])
        executors = {r["node_id"]: str(r["executor"]) for r in node_rows if r.get("executor")}
        return cls(dispatch_id, states, kinds, children, executors=executors)

    def end_nodes(
        self,
        node_ids: Sequence[int],
        status: Status,
        error: str,
        pending_too: bool,
        now: datetime,
    ) -> list[int]:
        """End the given nodes that are running (with ``pending_too``, also those never
        started) with ``status``, keeping an error they already have; returns those
        changed."""
        ended = []
        for n in node_ids:
            state = self.nodes.get(n)
            if state is None or Status(state["status"]).is_terminal:
                continue
            if state["status"] == Status.NEW_OBJECT and not pending_too:
                continue
            state.update(status=status, end_time=now, error=state.get("error") or error)
            ended.append(n)
        self.changed.set()
        return ended

    def close_stragglers(self, skipped: set[int], now: datetime) -> list[int]:
        """Electrons that ran but whose end event never arrived (their worker died after
        finishing): the final task proves they ended, so they end COMPLETED with what is
        known. Returns those changed."""
        closed = []
        for n, state in self.nodes.items():
            if n in skipped or self.kinds[n] == NodeKind.PARAMETER.value:
                continue
            if not Status(state["status"]).is_terminal:
                state["status"] = Status.COMPLETED
                state["end_time"] = state["end_time"] or now
                state["error"] = "the electron finished but its record was lost"
                closed.append(n)
        return closed

    def all_ended(self, skipped: set[int]) -> bool:
        """Whether every electron that was not skipped has ended."""
        return all(
            Status(s["status"]).is_terminal
            for n, s in self.nodes.items()
            if n not in skipped and self.kinds[n] != NodeKind.PARAMETER.value
        )


class Ended(asyncio.Event):
    """Set once a dispatch's end is committed; carries its final status."""

    status: Status | None = None
