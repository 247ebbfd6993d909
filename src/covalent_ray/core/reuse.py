"""Which nodes of a redispatched graph may reuse the stored outputs of an earlier dispatch.

A node is reusable when the earlier graph has a node with the same id doing the same
thing — same kind, name, function (by content hash), operator, parameter value — fed the
same way by parents that are themselves identical, and that node COMPLETED with a stored
output. Graphs built from the same lattice number their nodes in the same order, so
comparing by id is exact; any change upstream (a new argument value, a replaced
electron) makes everything downstream of it run again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .graph import Edge, Node, NodeKind, TransportGraph


def _same_node(a: Node, b: Node) -> bool:
    return (a.kind, a.name, a.function, a.value, a.op) == (
        b.kind,
        b.name,
        b.function,
        b.value,
        b.op,
    )


def _in_edges(graph: TransportGraph) -> dict[int, list[tuple[int, str, int | None, str | None]]]:
    grouped: dict[int, list[tuple[int, str, int | None, str | None]]] = {
        n.id: [] for n in graph.nodes
    }
    for e in graph.edges:
        grouped[e.child].append(_edge_key(e))
    return {k: sorted(v, key=repr) for k, v in grouped.items()}


def _edge_key(e: Edge) -> tuple[int, str, int | None, str | None]:
    return (e.parent, e.kind.value, e.index, e.name)


def reusable_nodes(
    old: TransportGraph, old_states: Mapping[int, Mapping[str, Any]], new: TransportGraph
) -> dict[int, str]:
    """Map each reusable node of ``new`` to the blob key of its stored output."""
    old_in, new_in = _in_edges(old), _in_edges(new)
    identical: set[int] = set()
    reuse: dict[int, str] = {}
    for nid in new.topological_order():
        if nid >= len(old.nodes):
            continue
        a, b = old.nodes[nid], new.nodes[nid]
        if not _same_node(a, b) or old_in[nid] != new_in[nid]:
            continue
        if any(parent not in identical for parent, *_ in new_in[nid]):
            continue
        if b.kind is NodeKind.PARAMETER:
            identical.add(nid)
            continue
        state = old_states.get(nid) or {}
        if state.get("status") == "COMPLETED" and state.get("output_blob"):
            identical.add(nid)
            reuse[nid] = str(state["output_blob"])
    return reuse
