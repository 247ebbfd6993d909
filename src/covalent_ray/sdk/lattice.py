"""``@ct.lattice``: a workflow whose body, run with stand-in outputs, yields the
transport graph. Called directly, a lattice is plain Python."""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import _serialize
from ..core.graph import TransportGraph
from ..core.manifest import DispatchManifest
from ..core.outcome import template_refs
from .build import GraphBuilder, build
from .deps import as_hook_list
from .executors import executor_spec, try_resolve_executor


@dataclass
class BuiltLattice:
    """A lattice bound to inputs: its graph, blobs and result template."""

    graph: TransportGraph
    blobs: dict[str, bytes]
    template: Any
    output_nodes: list[int]


def _lattice_executor(executor: Any, builder: GraphBuilder, owner: str) -> Any:
    instance, error = try_resolve_executor(executor, builder, owner)
    return None if error is not None else executor_spec(instance, builder, owner)


class Lattice:
    """A workflow: a function whose electron calls form a DAG."""

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        executor: Any = None,
        workflow_executor: Any = None,
        deps_bash: Any = None,
        deps_pip: Any = None,
        call_before: Any = (),
        call_after: Any = (),
        triggers: Any = None,
    ) -> None:
        self.workflow_function = function
        self.executor = executor
        self.workflow_executor = workflow_executor if workflow_executor is not None else executor
        self.hooks = {
            k: v
            for k, v in {
                "deps_bash": deps_bash,
                "deps_pip": deps_pip,
                "call_before": as_hook_list(call_before),
                "call_after": as_hook_list(call_after),
            }.items()
            if v
        }
        # Covalent accepts one trigger or a list of them
        self.triggers = (
            None
            if triggers is None
            else list(triggers)
            if isinstance(triggers, (list, tuple))
            else [triggers]
        )
        functools.update_wrapper(self, function)
        self._reset_graph()

    def _reset_graph(self) -> None:
        from .graph_view import TransportGraphView

        self.transport_graph = TransportGraphView(TransportGraph(), lambda key: None)
        self.inputs: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # the graph of the last build_graph() is a view for this process, not the lattice;
        # its triggers are registered with the service on their own (ct.dispatch)
        skip = ("transport_graph", "inputs", "triggers")
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.triggers = None
        self._reset_graph()

    @property
    def name(self) -> str:
        """The lattice's name (its function's name)."""
        return getattr(self.workflow_function, "__name__", "lattice")

    @property
    def source(self) -> str | None:
        """The lattice function's source code, when Python can find it."""
        try:
            return inspect.getsource(self.workflow_function)
        except (OSError, TypeError):
            return None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.workflow_function(*args, **kwargs)

    def build_graph(self, *args: Any, **kwargs: Any) -> BuiltLattice:
        """Run the body with stand-in outputs, as Covalent's ``build_graph``: sets
        ``self.transport_graph`` (``get_node_value``, ``get_dependencies``, ``_graph``)
        and ``self.inputs``; also returns the built graph."""
        from .graph_view import TransportGraphView
        from .result import LatticeInputs, TransportableObject

        built = self._build(args, kwargs)
        blobs = built.blobs

        def load(key: str) -> Any:
            data = blobs.get(key)
            return None if data is None else _serialize.loads(data)

        default = "dask"
        if isinstance(self.executor, str):
            default = self.executor
        self.transport_graph = TransportGraphView(
            built.graph, load, default_executor=default, wrap=TransportableObject
        )
        self.inputs = LatticeInputs({"args": tuple(args), "kwargs": dict(kwargs)})
        return built

    def draw(self, *args: Any, **kwargs: Any) -> str:
        """Build the graph for these inputs and open it in the dashboard (Covalent's
        ``lattice.draw()``); returns the preview's URL. Needs the service running."""
        from .preview import show

        self.build_graph(*args, **kwargs)
        return show(self.name, self.transport_graph.to_json())

    def _build(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        _replacements: dict[str, Any] | None = None,
    ) -> BuiltLattice:
        builder, template = build(
            self.name,
            self.workflow_function,
            args,
            kwargs,
            self.executor,
            self.hooks,
            _replacements,
        )
        return BuiltLattice(builder.graph, builder.blobs, template, template_refs(template))

    def manifest(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        dispatch_id: str | None = None,
        parent_dispatch_id: str | None = None,
        parent_node_id: int | None = None,
        root_dispatch_id: str | None = None,
        replacements: dict[str, Any] | None = None,
    ) -> DispatchManifest:
        """Build the graph for these inputs and package everything the service needs."""
        built = self._build(args, kwargs, replacements)
        inputs = {"args": list(args), "kwargs": dict(kwargs)}
        scratch = GraphBuilder(self.name)  # the dispatch's own blobs, keyed as the graph's
        put = scratch.blob
        # an unresolvable lattice executor fails the electrons that inherit it, not this
        executor = _lattice_executor(self.executor, scratch, f"lattice {self.name!r}")
        wf_executor = _lattice_executor(self.workflow_executor, scratch, f"lattice {self.name!r}")
        output_template_key = put(built.template, f"the return value of lattice {self.name!r}")
        inputs_key = put(inputs, f"the inputs of lattice {self.name!r}")
        lattice_key = put(self, f"lattice {self.name!r}")
        return DispatchManifest(
            dispatch_id=dispatch_id or str(uuid.uuid4()),
            name=self.name,
            graph=built.graph,
            blobs={**built.blobs, **scratch.blobs},
            output_template=output_template_key,
            output_nodes=built.output_nodes,
            inputs=inputs_key,
            inputs_repr=_serialize.readable(inputs),
            inputs_json=_serialize.as_json(inputs),
            lattice=lattice_key,
            lattice_source=self.source,
            lattice_doc=inspect.getdoc(self.workflow_function),
            executor=executor,
            workflow_executor=wf_executor,
            parent_dispatch_id=parent_dispatch_id,
            parent_node_id=parent_node_id,
            root_dispatch_id=root_dispatch_id,
        )

    def __repr__(self) -> str:
        return f"<lattice {self.name}>"


def lattice(
    _func: Callable[..., Any] | None = None,
    *,
    executor: Any = None,
    workflow_executor: Any = None,
    deps_bash: Any = None,
    deps_pip: Any = None,
    call_before: Any = (),
    call_after: Any = (),
    triggers: Any = None,
    backend: Any = None,
) -> Any:
    """Decorate a function as a lattice (``@ct.lattice`` or ``@ct.lattice(executor=...)``)."""
    if backend is not None and executor is None:
        executor = backend

    def wrap(function: Callable[..., Any]) -> Lattice:
        return Lattice(
            function,
            executor=executor,
            workflow_executor=workflow_executor,
            deps_bash=deps_bash,
            deps_pip=deps_pip,
            call_before=call_before,
            call_after=call_after,
            triggers=triggers,
        )

    return wrap(_func) if _func is not None else wrap
