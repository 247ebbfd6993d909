"""``lattice.transport_graph``: Covalent's public view of a transport graph.

Covalent scripts read a built or dispatched lattice's graph through a few methods of its
``_TransportGraph``: ``get_node_value(node_id, key)``, ``get_dependencies(node_id)``,
``get_edge_data(parent, child)``, and the node count through ``_graph`` (a networkx
graph there; here a small stand-in with ``nodes``, ``edges``, ``number_of_nodes()`` and
``number_of_edges()``, and ``get_internal_graph_copy()`` gives a real networkx graph
when networkx is installed).

The view is over plain data: the graph (``core.graph``), a function that loads blobs by
key (functions, parameter values, hooks, executors), and, for a dispatched lattice, each
node's stored state (status, output, logs). Electron metadata has Covalent's shape:
``{"executor": short name, "executor_data": {...}, "hooks": {"deps": {"bash", "pip"},
"call_before": [...], "call_after": [...]}}`` with the hooks as ``to_dict()`` forms, plus
``retries`` / ``retry_delay`` / ``timeout`` where set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._status import Status
from ..core.graph import EdgeKind, NodeKind, TransportGraph

#: blob key -> the unpickled object (None when it cannot be had)
LoadBlob = Callable[[str], Any]

#: the node keys get_node_value answers from the graph; state keys come from the run
GRAPH_KEYS = ("name", "function", "value", "metadata", "node_id", "kind")
STATE_KEYS = (
    "status",
    "output",
    "error",
    "stdout",
    "stderr",
    "start_time",
    "end_time",
    "sub_dispatch_id",
    "sublattice_result",
)


def electron_metadata(node: Any, load: LoadBlob, default_executor: str = "dask") -> dict[str, Any]:
    """A node's metadata as Covalent exposes it (see the module docstring)."""
    from ..executors.base import short_name_of

    meta = dict(node.metadata)
    spec = node.executor
    out: dict[str, Any] = {
        "executor": meta.get("executor_name")
        or (spec.short_name if spec is not None else default_executor),
        "executor_data": {},
        "hooks": {},
    }
    if spec is not None and spec.instance_blob:
        instance = load(spec.instance_blob)
        if instance is not None and hasattr(instance, "to_dict"):
            try:
                out["executor_data"] = instance.to_dict()
            except Exception:  # an executor whose state cannot be copied: named only
                out["executor_data"] = {"short_name": short_name_of(instance)}
    hooks = load(meta["hooks"]) if meta.get("hooks") else None
    if hooks:
        out["hooks"] = covalent_hooks(hooks)
    for key in ("retries", "retry_delay", "timeout", "executor_error"):
        if key in meta:
            out[key] = meta[key]
    return out


def covalent_hooks(hooks: dict[str, Any]) -> dict[str, Any]:
    """Our hooks dict in Covalent's encoded shape (deps and calls as ``to_dict()``)."""
    from .deps import DepsBash, DepsPip

    out: dict[str, Any] = {}
    deps: dict[str, Any] = {}
    bash = hooks.get("deps_bash")
    if bash:
        dep = bash if isinstance(bash, DepsBash) else DepsBash(bash)
        deps["bash"] = dep.to_dict()
    pip = hooks.get("deps_pip")
    if pip:
        pip_dep = pip if isinstance(pip, DepsPip) else DepsPip(packages=pip)
        deps["pip"] = pip_dep.to_dict()
    if deps:
        out["deps"] = deps
    for key in ("call_before", "call_after"):
        calls = hooks.get(key)
        if calls:
            out[key] = [_call_dict(c) for c in calls]
    return out


def _call_dict(call: Any) -> dict[str, Any]:
    from .deps import DepsCall

    dep = call if hasattr(call, "to_dict") else DepsCall(call)
    return dict(dep.to_dict())


class _Graph:
    """The few networkx-like reads Covalent scripts make on ``transport_graph._graph``."""

    def __init__(self, graph: TransportGraph) -> None:
        self._tg = graph

    @property
    def nodes(self) -> list[int]:
        """Node ids, in order."""
        return [n.id for n in self._tg.nodes]

    @property
    def edges(self) -> list[tuple[int, int]]:
        """``(parent, child)`` pairs, one per edge (several may join the same pair)."""
        return [(e.parent, e.child) for e in self._tg.edges]

    def number_of_nodes(self) -> int:
        """How many nodes."""
        return len(self._tg.nodes)

    def number_of_edges(self) -> int:
        """How many edges."""
        return len(self._tg.edges)

    def __len__(self) -> int:
        return len(self._tg.nodes)


class TransportGraphView:
    """Covalent's transport-graph methods over a built or dispatched graph."""

    def __init__(
        self,
        graph: TransportGraph,
        load: LoadBlob,
        states: dict[int, dict[str, Any]] | None = None,
        default_executor: str = "dask",
        state_value: Callable[[int, str], Any] | None = None,
        wrap: Callable[[Any], Any] = lambda value: value,
    ) -> None:
        self._wrap = wrap  # a value as a TransportableObject (sdk.result's)
        self._tg = graph
        self._load = load
        self._states = states or {}
        self._default_executor = default_executor
        self._state_value = state_value
        self._set: dict[tuple[int, str], Any] = {}
        self._graph = _Graph(graph)

    def __len__(self) -> int:
        return len(self._tg.nodes)

    def _node(self, node_id: int) -> Any:
        if not 0 <= node_id < len(self._tg.nodes):
            raise KeyError(
                f"the transport graph has no node {node_id} (it has nodes 0.."
                f"{len(self._tg.nodes) - 1})"
            )
        return self._tg.nodes[node_id]

    def get_node_value(self, node_id: int, value_key: str) -> Any:
        """One value of a node: ``name``, ``function``, ``function_string`` (its
        source), ``value`` (a parameter's, as a
        TransportableObject), ``metadata``, ``status``, ``output``, ``error``, ``stdout``,
        ``stderr``, ``start_time``, ``end_time``, ``sub_dispatch_id``, ...

        Raises ``KeyError`` for a key the node does not have.
        """
        node = self._node(node_id)
        if (node_id, value_key) in self._set:
            return self._set[(node_id, value_key)]
        if value_key == "name":
            return node.name
        if value_key == "node_id":
            return node.id
        if value_key == "kind":
            return node.kind.value
        if value_key == "metadata":
            return electron_metadata(node, self._load, self._default_executor)
        if value_key == "function":
            if node.function is None:
                raise KeyError(f"node {node_id} ({node.name}) has no function")
            return self._wrap(self._load(node.function))
        if value_key == "function_string":  # Covalent's name for the electron's source
            if node.function is None:
                raise KeyError(f"node {node_id} ({node.name}) has no function")
            return node.source or ""
        if value_key == "value":
            if node.kind is not NodeKind.PARAMETER or node.value is None:
                raise KeyError(f"node {node_id} ({node.name}) is not a parameter")
            return self._wrap(self._load(node.value))
        if value_key in STATE_KEYS:
            if self._state_value is not None:
                return self._state_value(node_id, value_key)
            state = self._states.get(node_id, {})
            if value_key == "status":
                return Status(state.get("status") or Status.NEW_OBJECT.value)
            return state.get(value_key)
        raise KeyError(
            f"node {node_id} ({node.name}) has no value {value_key!r}; known: "
            f"{', '.join(GRAPH_KEYS + STATE_KEYS)}"
        )

    def set_node_value(self, node_id: int, value_key: str, value: Any) -> None:
        """Set a node's value in this view (a local change; the stored dispatch keeps its
        own)."""
        self._node(node_id)
        self._set[(node_id, value_key)] = value

    def get_dependencies(self, node_id: int) -> list[int]:
        """The nodes whose outputs (or completion, for ``ct.wait``) this node needs."""
        self._node(node_id)
        return self._tg.parents()[node_id]

    def get_edge_data(self, dep_key: int, node_key: int) -> dict[int, dict[str, Any]]:
        """Covalent's edge attributes between two nodes, keyed 0, 1, ... (several edges may
        join them): ``edge_name``, ``param_type`` (``arg``/``kwarg``), ``arg_index``,
        ``wait_for`` for an ordering-only edge."""
        out: dict[int, dict[str, Any]] = {}
        for e in self._tg.edges:
            if e.parent != dep_key or e.child != node_key:
                continue
            if e.kind is EdgeKind.WAIT:
                data: dict[str, Any] = {"edge_name": "!waiting_edge", "wait_for": True}
            else:
                data = {"edge_name": e.name, "param_type": e.kind.value}
                if e.index is not None:
                    data["arg_index"] = e.index
            out[len(out)] = data
        return out

    def get_internal_graph_copy(self) -> Any:
        """A networkx ``MultiDiGraph`` of the graph (networkx must be installed)."""
        try:
            import networkx as nx
        except ImportError:
            raise ImportError(
                "get_internal_graph_copy() returns a networkx graph: pip install networkx. "
                "transport_graph._graph.nodes and get_dependencies() need nothing extra."
            ) from None
        g = nx.MultiDiGraph()
        for n in self._tg.nodes:
            g.add_node(n.id, name=n.name)
        for e in self._tg.edges:
            g.add_edge(e.parent, e.child, edge_name=e.name, param_type=e.kind.value)
        return g

    def to_json(self) -> dict[str, Any]:
        """The graph as plain JSON data: nodes (id, name, kind, status, metadata) and edges."""
        nodes = []
        for n in self._tg.nodes:
            meta = (
                electron_metadata(n, self._load, self._default_executor)
                if n.kind in (NodeKind.ELECTRON, NodeKind.SUBLATTICE)
                else {}
            )
            nodes.append(
                {
                    "id": n.id,
                    "name": n.name,
                    "kind": n.kind.value,
                    "status": self.get_node_value(n.id, "status").value,
                    "executor": meta.get("executor"),
                    "value": n.value_repr,
                }
            )
        edges = [
            {
                "source": e.parent,
                "target": e.child,
                "kind": e.kind.value,
                "name": e.name,
                "index": e.index,
            }
            for e in self._tg.edges
        ]
        return {"nodes": nodes, "edges": edges}

    def __repr__(self) -> str:
        return f"<transport graph of {len(self._tg.nodes)} nodes>"
