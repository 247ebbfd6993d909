"""Compile a transport graph into a task plan: what to submit to Ray, and in which order.

Policy
------
Every node except parameters (and, on resume, nodes whose stored output is reused)
becomes one Ray task. A task's inputs are the outputs of the nodes it depends on, passed
as ObjectRefs, so a task starts as soon as its inputs exist: the dispatcher is not asked
between electrons.

Tasks of the default executor (Dask-on-Ray) are submitted in *batches* through
``ray.util.dask``'s scheduler; tasks of explicit executors are submitted one by one to
their actor adaptors. A batch can be submitted only once the ObjectRefs of everything it
consumes exist, so nodes are cut into *segments*:

- a default node's segment is the largest of its default parents' segments and its
  adaptor parents' segments plus one;
- an adaptor node's segment is the largest of its parents' segments.

Submission then goes segment by segment: first the default batch of the segment, then
its adaptor nodes in topological order. A graph with no explicit executors is one batch.

Constants (parameters and reused outputs) are not tasks: a consumer receives them as
pickled bytes, marked in ``TaskSpec.constants``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from .graph import EdgeKind, Node, NodeKind, TransportGraph


@dataclass(frozen=True)
class TaskSpec:
    """What a worker needs to run one node; plain data, shipped with the task."""

    dispatch_id: str
    node_id: int
    name: str
    kind: NodeKind
    function: str | None  # blob key of the callable
    op: str | None
    value: str | None  # blob key (keys of an electron_dict)
    metadata: dict[str, Any]
    inputs: tuple[int, ...]  # node ids whose outputs the task receives, in this order
    constants: tuple[bool, ...]  # per input: True if it arrives as pickled bytes
    args: tuple[int, ...]  # per positional argument: index into inputs
    kwargs: tuple[tuple[str, int], ...]  # per keyword argument: (name, index into inputs)
    executor_key: str | None  # None: the default executor


@dataclass(frozen=True)
class Stage:
    """A unit of submission: one Dask-on-Ray batch, or a run of one adaptor's nodes."""

    executor_key: str | None
    nodes: tuple[int, ...]


@dataclass
class Plan:
    """The compiled dispatch."""

    tasks: dict[int, TaskSpec]
    stages: list[Stage]
    sinks: list[int]  # tasks whose output no other task consumes
    final_inputs: list[int]  # what the dispatch's final step waits on: sinks + outputs
    constants: set[int] = field(default_factory=set)


def _segments(
    order: list[int],
    parents: dict[int, list[int]],
    tasks: Collection[int],
    executor_key: Callable[[int], str | None],
) -> dict[int, int]:
    seg: dict[int, int] = {}
    for n in order:
        if n not in tasks:
            continue
        mine_default = executor_key(n) is None
        s = 0
        for p in parents[n]:
            if p not in tasks:
                continue
            bump = 1 if (mine_default and executor_key(p) is not None) else 0
            s = max(s, seg[p] + bump)
        seg[n] = s
    return seg


def compile_plan(
    dispatch_id: str,
    graph: TransportGraph,
    output_nodes: list[int],
    executor_key: Callable[[Node], str | None],
    reuse: Collection[int] = (),
) -> Plan:
    """Compile ``graph`` into a :class:`Plan`.

    ``executor_key(node)`` names the adaptor that runs ``node`` (None for the default
    executor). ``reuse`` lists nodes whose stored output stands in for running them.
    """
    constants = {n.id for n in graph.nodes if not n.runs} | set(reuse)
    task_ids = [n.id for n in graph.nodes if n.id not in constants]
    # electrons run on their executor, sublattices are built on their workflow executor;
    # the glue nodes (collections, getitem, operators) run on the default executor
    keys = {
        n.id: (executor_key(n) if n.kind in (NodeKind.ELECTRON, NodeKind.SUBLATTICE) else None)
        for n in graph.nodes
    }
    in_edges = graph.in_edges()

    tasks: dict[int, TaskSpec] = {}
    for nid in task_ids:
        node = graph.nodes[nid]
        inputs: list[int] = []
        position: dict[int, int] = {}

        def slot(
            parent: int, inputs: list[int] = inputs, position: dict[int, int] = position
        ) -> int:
            if parent not in position:
                position[parent] = len(inputs)
                inputs.append(parent)
            return position[parent]

        positional = sorted(
            (e for e in in_edges[nid] if e.kind is EdgeKind.ARG), key=lambda e: e.index or 0
        )
        args = tuple(slot(e.parent) for e in positional)
        kwargs = tuple(
            (e.name or "", slot(e.parent)) for e in in_edges[nid] if e.kind is EdgeKind.KWARG
        )
        for e in in_edges[nid]:
            if e.kind is EdgeKind.WAIT:
                slot(e.parent)
        tasks[nid] = TaskSpec(
            dispatch_id=dispatch_id,
            node_id=nid,
            name=node.name,
            kind=node.kind,
            function=node.function,
            op=node.op,
            value=node.value,
            metadata=node.metadata,
            inputs=tuple(inputs),
            constants=tuple(i in constants for i in inputs),
            args=args,
            kwargs=kwargs,
            executor_key=keys[nid],
        )

    order = graph.topological_order()
    parents = graph.parents()
    seg = _segments(order, parents, tasks, lambda n: keys[n])
    # one pass over the order per segment would be quadratic for many segments
    by_segment: dict[int, list[int]] = {}
    for n in order:
        if n in seg:
            by_segment.setdefault(seg[n], []).append(n)
    groups: list[tuple[str | None, list[int]]] = []
    for s in sorted(by_segment):
        batch = [n for n in by_segment[s] if keys[n] is None]
        if batch:
            groups.append((None, batch))
        for n in by_segment[s]:
            if keys[n] is None:
                continue
            if groups and groups[-1][0] == keys[n]:
                groups[-1][1].append(n)
            else:
                groups.append((keys[n], [n]))
    stages = [Stage(key, tuple(nodes)) for key, nodes in groups]

    consumed = {i for t in tasks.values() for i in t.inputs}
    sinks = [n for n in order if n in tasks and n not in consumed]
    final = list(dict.fromkeys(sinks + [n for n in output_nodes if n in tasks]))
    return Plan(tasks=tasks, stages=stages, sinks=sinks, final_inputs=final, constants=constants)
