"""The transport graph: a DAG of electrons and the values flowing between them.

It is plain data (ints, strings, dicts) so that every component can read it without
importing user code: functions and values live in the manifest's blob table as
cloudpickled bytes and are named here by their blob key.

Node kinds follow Covalent's transport graph:

- ``electron``: a user function, run by an executor;
- ``parameter``: a plain value passed to an electron (completes at once, never runs);
- ``electron_list`` / ``electron_tuple`` / ``electron_set`` / ``electron_dict``: a collection
  built from electron outputs;
- ``getitem`` / ``getattr`` / ``operator``: derived from an output by ``out[k]``, ``out.x``,
  ``out + 1`` ...;
- ``sublattice``: a lattice used as an electron, built and dispatched as a child dispatch
  at run time from its actual inputs.

Edges carry how the parent's value reaches the child: positional argument ``index``,
keyword argument ``name``, or ``wait`` (an ordering-only edge from ``ct.wait``).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class NodeKind(str, Enum):
    """What a transport-graph node does when it runs."""

    ELECTRON = "electron"
    PARAMETER = "parameter"
    LIST = "electron_list"
    TUPLE = "electron_tuple"
    SET = "electron_set"
    DICT = "electron_dict"
    GETITEM = "getitem"
    GETATTR = "getattr"
    OPERATOR = "operator"
    SUBLATTICE = "sublattice"

    def __str__(self) -> str:
        return self.value


class EdgeKind(str, Enum):
    """How a parent's output is handed to its child."""

    ARG = "arg"
    KWARG = "kwarg"
    WAIT = "wait"

    def __str__(self) -> str:
        return self.value


#: the executor of electrons (and of a dispatch's workflow) that name none: Dask-on-Ray
DEFAULT_EXECUTOR = "dask"


@dataclass(frozen=True)
class ExecutorSpec:
    """Which executor runs a node: a short name plus either config or a pickled instance.

    ``key`` identifies one configured executor: nodes with the same key share an adaptor.
    """

    short_name: str
    instance_blob: str | None = None  # blob key of a pickled executor instance
    identity: str | None = None  # type and settings, e.g. executors.base.config_key(...)

    @property
    def key(self) -> str:
        """Identity of this executor configuration: equal keys share one adaptor."""
        if self.identity:
            digest = hashlib.sha1(self.identity.encode()).hexdigest()[:16]
            return f"{self.short_name}:{digest}"
        if self.instance_blob:
            return f"{self.short_name}:{self.instance_blob}"
        return self.short_name


@dataclass
class Node:
    """One node of the transport graph."""

    id: int
    name: str
    kind: NodeKind
    function: str | None = None  # blob key of the pickled callable (electron, sublattice)
    value: str | None = None  # blob key: parameter value, or the keys of an electron_dict
    op: str | None = None  # operator name (add, sub...) or attribute name (getattr)
    executor: ExecutorSpec | None = None  # None: the lattice's / the default executor
    metadata: dict[str, Any] = field(default_factory=dict)  # deps, hooks, retries, timeout
    value_repr: str | None = None  # readable form of a parameter's value
    value_json: str | None = None  # JSON form of a parameter's value, when it has one
    source: str | None = None  # the electron's (or sublattice's) source code, when known

    @property
    def runs(self) -> bool:
        """Whether the node becomes a task (parameters are constants)."""
        return self.kind is not NodeKind.PARAMETER


@dataclass(frozen=True)
class Edge:
    """A dependency: ``parent``'s output feeds ``child``."""

    parent: int
    child: int
    kind: EdgeKind
    index: int | None = None  # position among the positional arguments
    name: str | None = None  # keyword name, or the bound parameter name for display


@dataclass
class TransportGraph:
    """Nodes indexed by id (ids are 0..n-1 in build order, which is topological)."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    def add_node(self, name: str, kind: NodeKind, **fields: Any) -> Node:
        """Append a node with the next id and return it."""
        node = Node(id=len(self.nodes), name=name, kind=kind, **fields)
        self.nodes.append(node)
        return node

    def add_edge(
        self,
        parent: int,
        child: int,
        kind: EdgeKind,
        *,
        index: int | None = None,
        name: str | None = None,
    ) -> None:
        """Record that ``parent``'s output feeds ``child``."""
        self.edges.append(Edge(parent, child, kind, index, name))

    def __len__(self) -> int:
        return len(self.nodes)

    def in_edges(self) -> dict[int, list[Edge]]:
        """Edges grouped by child, in insertion order."""
        grouped: dict[int, list[Edge]] = {n.id: [] for n in self.nodes}
        for e in self.edges:
            grouped[e.child].append(e)
        return grouped

    def children(self) -> dict[int, list[int]]:
        """Distinct children of every node, in edge order."""
        out: dict[int, dict[int, None]] = {n.id: {} for n in self.nodes}
        for e in self.edges:
            out[e.parent][e.child] = None  # a dict: a node with 10,000 children stays linear
        return {n: list(c) for n, c in out.items()}

    def parents(self) -> dict[int, list[int]]:
        """Distinct parents of every node, in edge order."""
        out: dict[int, dict[int, None]] = {n.id: {} for n in self.nodes}
        for e in self.edges:
            out[e.child][e.parent] = None
        return {n: list(p) for n, p in out.items()}

    def topological_order(self) -> list[int]:
        """Node ids so that every parent precedes its children (Kahn's algorithm).

        Raises ``ValueError`` on a cycle, which a built graph never has but a hand-made
        one might.
        """
        parents = self.parents()
        children = self.children()
        indegree = {n: len(p) for n, p in parents.items()}
        ready = deque(sorted(n for n, d in indegree.items() if d == 0))
        order: list[int] = []
        while ready:
            n = ready.popleft()
            order.append(n)
            for c in children[n]:
                indegree[c] -= 1
                if indegree[c] == 0:
                    ready.append(c)
        if len(order) != len(self.nodes):
            raise ValueError("the transport graph has a cycle")
        return order


def descendants(children: dict[int, list[int]], roots: Iterable[int]) -> set[int]:
    """Every node reachable from ``roots`` (the roots themselves excluded)."""
    seen: set[int] = set()
    stack = [c for r in roots for c in children.get(r, ())]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(children.get(n, ()))
    return seen
