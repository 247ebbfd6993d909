"""Turning a compiled plan into Ray tasks chained by ObjectRefs.

Default-executor nodes form a Dask graph (one key per node, ``<name>#<node_id>``) that
runs as Ray tasks, one per node, named ``dask:<key>`` as Dask-on-Ray names them.
It is submitted through a lean path of our own rather than ``ray.util.dask``'s
``ray_dask_get``: that scheduler pickles every ``dask.Task`` with cloudpickle, runs
dask's local scheduler loop over the whole graph before handing back the refs, and
resolves cross-batch refs inside the task (measured 1.3-1.8 ms per task against ~0.5 ms
for a plain ``.remote()``, issue 12). Here one cached remote function serves every
default node, and nodes are submitted one by one in topological order, each with its
parents' ObjectRefs as top-level arguments, so Ray starts the first electrons while the
rest is still being submitted and resolves inputs before a task is scheduled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray

from .._home import objects_dir, results_path
from ..core.compile import Plan
from ..core.graph import NodeKind
from ..core.manifest import DispatchManifest
from ..core.outcome import Failed
from .worker import FinalSpec, NodeTask, finalize, run_node

INLINE_BYTES = 100 * 1024  # larger blobs go to the object store once per dispatch

_finalize = ray.remote(num_returns=3, max_retries=0)(finalize)
# every default-executor node runs through this one remote function (per task only its
# name and Ray retries differ)
_dask_node = ray.remote(run_node)


@dataclass
class Run:
    """The Ray side of one running dispatch.

    ``refs`` fills while the launch submits (in the launch thread); readers take
    ``lock`` or a snapshot. ``stop`` asks a launch still under way to submit no more.
    """

    dispatch_id: str
    refs: dict[int, ray.ObjectRef] = field(default_factory=dict)
    outcome_ref: ray.ObjectRef | None = None
    value_ref: ray.ObjectRef | None = None
    fields_ref: ray.ObjectRef | None = None  # the result's stored form (see finalize)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # epoch seconds, see profile
    planned: tuple[int, ...] = ()  # every node the launch will submit
    launching: Any = None  # the dispatcher's task finishing the launch (asyncio.Task)

    def snapshot(self) -> dict[int, ray.ObjectRef]:
        """The refs submitted so far."""
        with self.lock:
            return dict(self.refs)


def ray_retries(spec: Any) -> int:
    """How often Ray may run a node's task again after its worker process died: as often
    as the electron's ``retries`` allow (the node counts Ray's re-runs as its attempts,
    see ``worker.run_electron``), never more; Ray's default of 3 would run an electron
    that sets no retries up to four times."""
    return max(0, int(spec.metadata.get("retries") or 0)) if spec.kind is NodeKind.ELECTRON else 0


def dask_key(name: str, node_id: int) -> str:
    """The Dask key of a node (its Ray task is named ``dask:<key>``)."""
    return f"{name}#{node_id}"


#: ``submit(executor_key, node_id, packed, refs, args) -> ObjectRef``: hands one node of
#: an explicit executor to its adaptor (see ``Dispatcher``).
SubmitToExecutor = Callable[[str, int, bytes, "dict[str, Any] | None", list[Any]], Any]


def launch(
    manifest: DispatchManifest,
    plan: Plan,
    reused: dict[int, str] | None = None,
    submit: SubmitToExecutor | None = None,
    home: str = "",
    run: Run | None = None,
    kept_failures: tuple[Failed, ...] = (),
) -> Run:
    """Submit every task of ``plan`` and the final step; return their ObjectRefs.

    ``reused`` maps nodes whose stored output replaces running them to that output's
    blob key (the blob must be in ``manifest.blobs``). Nodes of explicit executors go
    through ``submit`` with their inputs as ObjectRefs (or constants); ``home`` is the
    service's home (its ``results`` and ``objects`` directories). Given ``run``,
    refs are added to it as they are submitted, and submission stops early once
    ``run.stop`` is set (then no final step is submitted). ``kept_failures`` are the
    failures of reused nodes (a resumed dispatch keeps them): the outcome counts them.
    """
    graph = manifest.graph
    reused = reused or {}
    run = run or Run(manifest.dispatch_id)
    placed: dict[str, Any] = {}
    refs = run.refs

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
    results_dir = str(results_path(Path(home))) if home else ""
    objects = str(objects_dir(Path(home))) if home else ""
    run.planned = tuple(plan.tasks)
    run.timings["submit_start"] = time.time()
    for stage in plan.stages:
        for nid in stage.nodes:
            if run.stop:
                return run
            spec = plan.tasks[nid]
            blobs = {
                k: payload(k) for k in (spec.function, spec.value, spec.metadata.get("hooks")) if k
            }
            packed, blob_refs = NodeTask(spec, root, blobs, results_dir, objects).pack()
            args = [
                constant(i) if const else refs[i] for i, const in zip(spec.inputs, spec.constants)
            ]
            if stage.executor_key is None:
                ref = _dask_node.options(
                    name=f"dask:{spec.name}#{nid}", max_retries=ray_retries(spec)
                ).remote(packed, blob_refs, *args)
            else:
                if submit is None:
                    raise RuntimeError(f"no adaptor can run executor {stage.executor_key!r}")
                ref = submit(stage.executor_key, nid, packed, blob_refs, args)
            with run.lock:
                refs[nid] = ref
            if "first_submitted" not in run.timings:
                run.timings["first_submitted"] = time.time()

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
        objects,
        kept_failures,
    )
    run.outcome_ref, run.value_ref, run.fields_ref = _finalize.options(
        name=f"finalize:{manifest.name}"
    ).remote(final, *[refs[n] for n in plan.final_inputs])
    run.timings["submitted"] = time.time()
    return run
