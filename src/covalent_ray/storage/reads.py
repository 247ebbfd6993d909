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
