"""Named read queries served by the result manager to other processes (HTTP server, CLI).

Each function takes a DuckDB cursor first; ``ResultManager.read(name, ...)`` runs the one
registered under ``name`` on a reader thread. Registering a function here is how a new
read becomes available to other processes without touching the actor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import repository as repo

READS: dict[str, Callable[..., Any]] = {}


def read(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``fn`` under its name."""
    READS[fn.__name__] = fn
    return fn


@read
def dispatch_summary(cur: Any, dispatch_id: str) -> dict[str, Any] | None:
    """One dispatch row with its electron counts by status and its child dispatches."""
    row = repo.get_dispatch(cur, dispatch_id)
    if row is None:
        return None
    row["electron_counts"] = repo.node_status_counts(cur, [dispatch_id])[dispatch_id]
    row["children"] = repo.children(cur, dispatch_id)
    return row


@read
def graph(cur: Any, dispatch_id: str) -> dict[str, Any] | None:
    """Nodes (state columns, no stored values) and edges of a dispatch's graph."""
    if repo.get_dispatch(cur, dispatch_id) is None:
        return None
    return {"nodes": repo.get_nodes(cur, dispatch_id), "edges": repo.get_edges(cur, dispatch_id)}


@read
def graph_view(cur: Any, dispatch_id: str) -> dict[str, Any] | None:
    """A dispatch's graph for drawing: each node's state without values or logs (a
    thousand-node graph stays a small answer), and its edges."""
    if repo.get_dispatch(cur, dispatch_id) is None:
        return None
    nodes = repo._rows(
        cur.execute(
            "SELECT node_id, name, kind, status, executor, start_time, end_time, "
            "sub_dispatch_id, attempt FROM electrons WHERE dispatch_id = ? ORDER BY node_id",
            [dispatch_id],
        )
    )
    return {"nodes": nodes, "edges": repo.get_edges(cur, dispatch_id)}


@read
def electron_detail(cur: Any, dispatch_id: str, node_id: int) -> dict[str, Any] | None:
    """One node's row and its inputs (each parent's readable output with the parameter it
    binds) and its recorded attempts; None for an unknown dispatch, ``{"node": None}`` for
    an unknown node."""
    if repo.get_dispatch(cur, dispatch_id) is None:
        return None
    nodes = repo.get_nodes(cur, dispatch_id, [node_id])
    if not nodes:
        return {"node": None, "inputs": []}
    inputs = repo._rows(
        cur.execute(
            """SELECT e.kind, e.arg_index, e.param_name, e.parent_node_id,
                  p.name AS parent_name, p.kind AS parent_kind, p.output_repr, p.output_json
           FROM edges e JOIN electrons p
             ON p.dispatch_id = e.dispatch_id AND p.node_id = e.parent_node_id
           WHERE e.dispatch_id = ? AND e.child_node_id = ?
           ORDER BY e.kind, e.arg_index NULLS LAST, e.param_name""",
            [dispatch_id, node_id],
        )
    )
    return {
        "node": nodes[0],
        "inputs": inputs,
        "attempts": repo.get_attempts(cur, dispatch_id, node_id),
    }
