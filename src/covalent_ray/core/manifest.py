"""What a client hands to the dispatcher: the transport graph plus opaque blobs.

The blobs stay opaque in the service: the result manager stores and returns them, the
dispatcher launches them. Only workers, executor adaptors and the client reading results
back unpickle user objects; the service unpickles the manifest's skeleton (these
dataclasses, which the result manager pickled itself) and, in the dispatcher, instances of
the built-in ``RayExecutor`` to read their Ray options. A manifest is therefore safe to
handle in processes that cannot import the user's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .graph import ExecutorSpec, TransportGraph


@dataclass
class DispatchManifest:
    """A lattice bound to its inputs, ready to run."""

    dispatch_id: str
    name: str
    graph: TransportGraph
    blobs: dict[str, bytes]  # blob key -> cloudpickled bytes (functions, values, executors)
    output_template: str  # blob key of the pickled result template (NodeRef placeholders)
    output_nodes: list[int]
    inputs: str  # blob key of the pickled {"args": [...], "kwargs": {...}}
    inputs_repr: str
    inputs_json: str | None
    lattice: str | None  # blob key of the pickled lattice (redispatch, display)
    lattice_source: str | None = None
    lattice_doc: str | None = None
    executor: ExecutorSpec | None = None  # the lattice's default for its electrons
    workflow_executor: ExecutorSpec | None = None
    parent_dispatch_id: str | None = None
    parent_node_id: int | None = None
    root_dispatch_id: str | None = None
    triggered_by: str | None = None  # the dispatch whose trigger started this one
    trigger_id: str | None = None  # the trigger that fired
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def root_id(self) -> str:
        """The top-level dispatch this one belongs to (itself when it is not a child)."""
        return self.root_dispatch_id or self.dispatch_id
