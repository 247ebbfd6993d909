"""Large transport graphs, aggregated for drawing: repeated electrons of one function
become one group node with the count of its members in each status.

:func:`group_graph` takes a graph as plain rows (the store's ``graph_view``: nodes with
``node_id``, ``name``, ``kind``, ``status``; edges with ``parent_node_id`` and
``child_node_id``) and answers what the dashboard draws, without touching storage.

Policy.

- Below ``threshold`` nodes (``mode="auto"``) the graph is answered as it is: every node
  drawn is a node of the graph.
- Above it, nodes are keyed by ``(kind, name, level)``, ``level`` being the node's
  longest-path depth from the graph's roots: the ``inc`` of a fan-out share a key, and so
  do the ``add`` of one layer of a mesh, while the same function at two depths stays two
  groups (the drawing keeps the graph's shape). Parameters are keyed by the key of the
  first node they feed, so a sweep's values group next to the electrons they feed.
- When that still leaves more than ``threshold`` nodes to draw (a chain of ten thousand
  calls of one function has as many levels), the level is dropped from the key: one
  group per function and kind. Edges inside a group are then left out.
- Keys shared by at least :data:`MIN_GROUP` nodes make a group; the others stay nodes.
- A group's ID is its smallest member's node ID, so IDs of nodes and groups never
  collide and a group keeps its ID while its members' statuses change. ``expanded``
  names groups (by that ID) whose members are drawn as nodes instead.
- Edges between the same two drawn items (node or group) merge into one with a
  ``count``; a merged edge keeps its parameter name only when all merged edges agree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal, TypedDict

#: Graphs with more nodes than this are aggregated by ``mode="auto"``
GROUP_ABOVE = 1000
#: A key shared by fewer nodes than this does not make a group
MIN_GROUP = 2

GroupMode = Literal["auto", "none", "all"]


class Group(TypedDict):
    """Repeated nodes drawn as one: their function (or kind) and each member's status."""

    id: int
    name: str
    kind: str
    size: int
    counts: dict[str, int]
    members: list[int]
    statuses: list[str]


class GroupedEdge(TypedDict):
    """One drawn edge between two drawn items, standing for ``count`` graph edges."""

    source: int
    target: int
    kind: str
    arg_index: int | None
    param_name: str | None
    count: int


class GroupedGraph(TypedDict):
    """What to draw: the nodes kept as they are (their rows), the groups, the edges."""

    grouped: bool
    total_nodes: int
    nodes: list[Mapping[str, Any]]
    groups: list[Group]
    edges: list[GroupedEdge]


def levels(node_ids: Sequence[int], edges: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """Longest-path depth of each node from the graph's roots (roots are 0).

    Node IDs follow build order, which is topological (a parent is built before its
    children), so one pass over the nodes in ID order settles every depth."""
    parents: dict[int, list[int]] = defaultdict(list)
    for e in edges:
        parents[e["child_node_id"]].append(e["parent_node_id"])
    depth: dict[int, int] = {}
    for nid in sorted(node_ids):
        depth[nid] = max((depth.get(p, 0) + 1 for p in parents.get(nid, ())), default=0)
    return depth


def _keys(
    nodes: Sequence[Mapping[str, Any]],
    edges: Sequence[Mapping[str, Any]],
    depth: Mapping[int, int] | None,
) -> dict[int, tuple[Any, ...]]:
    first_child: dict[int, int] = {}
    for e in edges:
        p, c = e["parent_node_id"], e["child_node_id"]
        if p not in first_child or c < first_child[p]:
            first_child[p] = c
    keys: dict[int, tuple[Any, ...]] = {}
    for n in nodes:
        if n["kind"] == "parameter":
            continue
        nid = n["node_id"]
        keys[nid] = (n["kind"], n["name"]) + ((depth[nid],) if depth is not None else ())
    for n in nodes:
        if n["kind"] != "parameter":
            continue
        nid = n["node_id"]
        child = first_child.get(nid)
        # an unused parameter is keyed by itself: it stays a node
        keys[nid] = ("parameter", keys[child]) if child in keys else ("parameter", nid)
    return keys


def _drawn_count(keys: Mapping[int, tuple[Any, ...]]) -> int:
    sizes = Counter(keys.values())
    return sum(1 if size >= MIN_GROUP else size for size in sizes.values())


def group_graph(
    nodes: Sequence[Mapping[str, Any]],
    edges: Sequence[Mapping[str, Any]],
    *,
    mode: GroupMode = "auto",
    threshold: int = GROUP_ABOVE,
    expanded: Collection[int] = (),
) -> GroupedGraph:
    """The graph to draw: aggregated as the module docstring says when ``mode`` is
    ``"all"``, or ``"auto"`` and the graph has more than ``threshold`` nodes."""
    if mode == "none" or (mode == "auto" and len(nodes) <= threshold):
        # drawn as it is: each edge stands for itself
        return {
            "grouped": False,
            "total_nodes": len(nodes),
            "nodes": list(nodes),
            "groups": [],
            "edges": [_edge(e["parent_node_id"], e["child_node_id"], [e]) for e in edges],
        }
    depth = levels([n["node_id"] for n in nodes], edges)
    keys = _keys(nodes, edges, depth)
    if _drawn_count(keys) > threshold:
        keys = _keys(nodes, edges, None)

    by_key: dict[tuple[Any, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for n in nodes:
        by_key[keys[n["node_id"]]].append(n)
    drawn_as: dict[int, int] = {}
    kept: list[Mapping[str, Any]] = []
    groups: list[Group] = []
    expanded_ids = set(expanded)
    for members in by_key.values():
        gid = min(m["node_id"] for m in members)
        if len(members) < MIN_GROUP or gid in expanded_ids:
            for m in members:
                drawn_as[m["node_id"]] = m["node_id"]
                kept.append(m)
            continue
        members = sorted(members, key=lambda m: m["node_id"])
        first = members[0]
        statuses = [str(m["status"]) for m in members]
        groups.append(
            {
                "id": gid,
                "name": "parameters" if first["kind"] == "parameter" else first["name"],
                "kind": first["kind"],
                "size": len(members),
                "counts": dict(Counter(statuses)),
                "members": [m["node_id"] for m in members],
                "statuses": statuses,
            }
        )
        for m in members:
            drawn_as[m["node_id"]] = gid

    merged: dict[tuple[int, int], list[Mapping[str, Any]]] = defaultdict(list)
    for e in edges:
        s, t = drawn_as[e["parent_node_id"]], drawn_as[e["child_node_id"]]
        if s != t:
            merged[(s, t)].append(e)
    kept.sort(key=lambda n: n["node_id"])
    groups.sort(key=lambda g: g["id"])
    return {
        "grouped": True,
        "total_nodes": len(nodes),
        "nodes": kept,
        "groups": groups,
        "edges": [_edge(s, t, es) for (s, t), es in merged.items()],
    }


def _edge(source: int, target: int, edges: Sequence[Mapping[str, Any]]) -> GroupedEdge:
    kinds = {e["kind"] for e in edges}
    names = {e["param_name"] for e in edges}
    indexes = {e["arg_index"] for e in edges}
    return {
        "source": source,
        "target": target,
        # an ordering-only edge stays dashed only when every edge it stands for is one
        "kind": kinds.pop() if len(kinds) == 1 else "arg",
        "arg_index": indexes.pop() if len(indexes) == 1 else None,
        "param_name": names.pop() if len(names) == 1 else None,
        "count": len(edges),
    }
