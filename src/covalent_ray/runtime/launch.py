"""Turning a compiled plan into Ray tasks chained by ObjectRefs.

Default-executor batches go through ``ray.util.dask``'s scheduler (``ray_dask_get`` with
``ray_persist=True``), which submits every node as a Ray task and hands back ObjectRefs
without waiting for them. It is given a synchronous pool: submission is cheap, and the
thread hops of its default pool cost more than they save.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray

from ..core.compile import Plan
from ..core.graph import NodeKind
from ..core.manifest import DispatchManifest
from .worker import FinalSpec, NodeTask, finalize, run_node

INLINE_BYTES = 100 * 1024  # larger blobs go to the object store once per dispatch

_finalize = ray.remote(num_returns=2, max_retries=0)(finalize)


class _SyncPool:
    """The ``pool`` ray_dask_get submits through: runs each submission at once."""

    _pool = [None]

    def apply_async(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwds: dict[str, Any] | None = None,
        callback: Callable[[Any], None] | None = None,
    ) -> None:
        result = func(*args, **(kwds or {}))
        if callback is not None:
            callback(result)


@dataclass
class Run:
    """The Ray side of one running dispatch."""

    dispatch_id: str
    refs: dict[int, ray.ObjectRef] = field(default_factory=dict)
    outcome_ref: ray.ObjectRef | None = None
    value_ref: ray.ObjectRef | None = None


def dask_key(name: str, node_id: int) -> str:
    """The Dask key (and so the Ray task name, ``dask:<key>``) of a node."""
    return f"{name}#{node_id}"


#: ``submit(executor_key, node_id, packed, refs, args) -> ObjectRef``: hands one node of
#: an explicit executor to its adaptor (see ``Dispatcher``).
SubmitToExecutor = Callable[[str, int, bytes, "dict[str, Any] | None", list[Any]], Any]


def launch(
    manifest: DispatchManifest,
    plan: Plan,
    reused: dict[int, str] | None = None,
    submit: SubmitToExecutor | None = None,
    results_dir: str = "",
) -> Run:
    """Submit every task of ``plan`` and the final step; return their ObjectRefs.

    ``reused`` maps nodes whose stored output replaces running them to that output's
    blob key (the blob must be in ``manifest.blobs``). Nodes of explicit executors go
    through ``submit`` with their inputs as ObjectRefs (or constants).
    """
    from dask._task_spec import DataNode, Task, TaskRef
    from ray.util.dask import ray_dask_get

    graph = manifest.graph
    reused = reused or {}
    run = Run(manifest.dispatch_id)
    placed: dict[str, Any] = {}

    def payload(key: str) -> Any:
        data = manifest.blobs[key]
        if len(data) <= INLINE_BYTES:
            return data
        if key not in placed:
            placed[key] = ray.put(data)
        return placed[key]

    def constant(node_id: int) -> Any:
        key = reused.get(node_id) or graph.nodes[node_id].value
        assert key is not None, f"node {node_id} has no stored value"
        return payload(key)

    root = manifest.root_id

    def node_task(nid: int) -> NodeTask:
        spec = plan.tasks[nid]
        keys = [k for k in (spec.function, spec.value, spec.metadata.get("hooks")) if k]
        return NodeTask(spec, root, {k: payload(k) for k in keys}, results_dir)

    for stage in plan.stages:
        if stage.executor_key is not None:
            if submit is None:
                raise RuntimeError(f"no adaptor can run executor {stage.executor_key!r}")
            for nid in stage.nodes:
                spec = plan.tasks[nid]
                args = [
                    constant(i) if const else run.refs[i]
                    for i, const in zip(spec.inputs, spec.constants)
                ]
                packed, refs = node_task(nid).pack()
                run.refs[nid] = submit(stage.executor_key, nid, packed, refs, args)
            continue
        members = set(stage.nodes)
        dsk: dict[str, Any] = {}
        for nid in stage.nodes:
            spec = plan.tasks[nid]
            task = node_task(nid)
            args: list[Any] = []
            for inp, is_const in zip(spec.inputs, spec.constants):
                if is_const:
                    value = constant(inp)
                    if isinstance(value, ray.ObjectRef):
                        ref_key = f"const#{inp}"
                        dsk[ref_key] = DataNode(ref_key, value)
                        args.append(TaskRef(ref_key))
                    else:
                        args.append(value)
                elif inp in members:
                    args.append(TaskRef(dask_key(plan.tasks[inp].name, inp)))
                else:  # produced by an earlier stage: hand its ObjectRef to dask as data
                    ref_key = f"ref#{inp}"
                    dsk[ref_key] = DataNode(ref_key, run.refs[inp])
                    args.append(TaskRef(ref_key))
            key = dask_key(spec.name, nid)
            packed, refs = task.pack()
            dsk[key] = Task(key, run_node, packed, refs, *args)
        keys = [dask_key(plan.tasks[n].name, n) for n in stage.nodes]
        refs = ray_dask_get(dsk, keys, ray_persist=True, pool=_SyncPool())
        for nid, ref in zip(stage.nodes, refs):
            run.refs[nid] = ref

    template_constants = {
        n: manifest.blobs[reused.get(n) or graph.nodes[n].value or ""]
        for n in manifest.output_nodes
        if n in reused or graph.nodes[n].kind is NodeKind.PARAMETER
    }
    final = FinalSpec(
        manifest.dispatch_id,
        manifest.name,
        tuple(plan.final_inputs),
        manifest.blobs[manifest.output_template],
        template_constants,
    )
    run.outcome_ref, run.value_ref = _finalize.options(name=f"finalize:{manifest.name}").remote(
        final, *[run.refs[n] for n in plan.final_inputs]
    )
    return run
