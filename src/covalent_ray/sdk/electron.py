"""``@ct.electron``: a function that becomes a node of the transport graph when called
inside a lattice, and stays a plain function everywhere else."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from ..core.graph import NodeKind
from .build import ElectronOutput, GraphBuilder, active_builder
from .deps import as_hook_list
from .executors import executor_label, executor_spec, try_resolve_executor
from .lattice import Lattice


class Electron:
    """A function (or a lattice, as a sublattice) with its execution settings."""

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        executor: Any = None,
        deps_bash: Any = None,
        deps_pip: Any = None,
        call_before: Any = (),
        call_after: Any = (),
        files: Sequence[Any] = (),
        retries: int | None = None,
        retry_delay: float | None = None,
        timeout: float | None = None,
    ) -> None:
        self.function = function
        self.executor = executor
        self.deps_bash = deps_bash
        self.deps_pip = deps_pip
        self.call_before = as_hook_list(call_before)
        self.call_after = as_hook_list(call_after)
        self.files = list(files or [])
        self.retries = retries
        self.retry_delay = retry_delay
        self.timeout = timeout
        functools.update_wrapper(self, function)

    @property
    def electron_object(self) -> Electron:
        """Covalent spells ``f.electron_object.executor = ...`` to change an executor."""
        return self

    @property
    def metadata(self) -> dict[str, Any]:
        """This electron's settings as Covalent's ``electron.metadata``: ``executor`` (short
        name; ``"dask"`` for the default), ``executor_data`` (the instance's ``to_dict()``),
        ``hooks`` (``deps`` bash/pip, ``call_before``, ``call_after`` as ``to_dict()``s);
        plus ``retries`` / ``retry_delay`` / ``timeout`` where set."""
        from .graph_view import covalent_hooks

        executor = self.executor
        data: dict[str, Any] = {}
        if executor is None:
            name = "dask"
        elif isinstance(executor, str):
            name = executor
        else:
            from ..executors.base import short_name_of

            name = short_name_of(executor)
            data = executor.to_dict() if hasattr(executor, "to_dict") else {}
        hooks: dict[str, Any] = {}
        for key in ("deps_bash", "deps_pip", "call_before", "call_after"):
            value = getattr(self, key)
            if value:
                hooks[key] = value
        out: dict[str, Any] = {
            "executor": name,
            "executor_data": data,
            "hooks": covalent_hooks(hooks),
        }
        for key in ("retries", "retry_delay", "timeout"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @property
    def name(self) -> str:
        """The node name used in the transport graph."""
        if isinstance(self.function, Lattice):
            return f":sublattice:{self.function.name}"
        return getattr(self.function, "__name__", type(self.function).__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = active_builder()
        if builder is None:
            return self.function(*args, **kwargs)
        replacement = builder.replacements.get(self.name)
        if replacement is not None and replacement is not self:
            return replacement(*args, **kwargs)
        kind = NodeKind.SUBLATTICE if isinstance(self.function, Lattice) else NodeKind.ELECTRON
        executor = self.executor
        if executor is None and kind is NodeKind.SUBLATTICE:
            executor = self.function.workflow_executor  # type: ignore[attr-defined]  # where its graph is built
        if executor is None:
            executor = builder.default_executor
        owner = f"electron {self.name!r}"
        instance, executor_error = try_resolve_executor(executor, builder, owner)
        metadata: dict[str, Any] = {}
        if executor_error is not None:  # Covalent creates the dispatch; this electron fails
            metadata["executor_error"] = executor_error
            metadata["executor_name"] = executor_label(executor)
        for field_name in ("retries", "retry_delay", "timeout"):
            value = getattr(self, field_name)
            if value is not None:
                metadata[field_name] = value
        # Covalent's executor settings ``retries`` and ``time_limit`` are the defaults
        if instance is not None:
            if "retries" not in metadata and getattr(instance, "retries", None):
                metadata["retries"] = int(instance.retries)
            limit = getattr(instance, "time_limit", -1)
            if "timeout" not in metadata and limit and limit > 0:
                metadata["timeout"] = float(limit)
        hooks = self._hooks(builder)
        if hooks:
            metadata["hooks"] = builder.blob(hooks, f"the deps and hooks of electron {self.name!r}")
        return builder.add_call(
            self.name,
            kind,
            self.function,
            args,
            kwargs,
            None if instance is None else executor_spec(instance, builder, owner),
            metadata,
        )

    def _hooks(self, builder: GraphBuilder) -> dict[str, Any]:
        hooks: dict[str, Any] = {}
        deps_bash = (
            self.deps_bash if self.deps_bash is not None else builder.lattice_hooks.get("deps_bash")
        )
        deps_pip = (
            self.deps_pip if self.deps_pip is not None else builder.lattice_hooks.get("deps_pip")
        )
        before = self.call_before or builder.lattice_hooks.get("call_before") or []
        after = self.call_after or builder.lattice_hooks.get("call_after") or []
        if deps_bash:
            hooks["deps_bash"] = deps_bash
        if deps_pip:
            hooks["deps_pip"] = deps_pip
        if before:
            hooks["call_before"] = list(before)
        if after:
            hooks["call_after"] = list(after)
        if self.files:
            hooks["files"] = list(self.files)
        return hooks

    def __repr__(self) -> str:
        return f"<electron {self.name}>"


def electron(
    _func: Callable[..., Any] | None = None,
    *,
    executor: Any = None,
    deps_bash: Any = None,
    deps_pip: Any = None,
    deps_module: Any = None,
    call_before: Any = (),
    call_after: Any = (),
    files: Sequence[Any] = (),
    retries: int | None = None,
    retry_delay: float | None = None,
    timeout: float | None = None,
    backend: Any = None,
) -> Any:
    """Decorate a function (or wrap a lattice) as an electron.

    Usable bare (``@ct.electron``), with settings (``@ct.electron(executor="local")``) or
    as a call (``ct.electron(some_lattice)`` for a sublattice).
    """
    if backend is not None and executor is None:
        executor = backend  # Covalent's deprecated spelling
    if deps_module is not None:
        modules = deps_module if isinstance(deps_module, (list, tuple)) else [deps_module]
        from .deps import DepsModule

        call_before = as_hook_list(call_before) + [DepsModule(m) for m in modules]

    def wrap(function: Callable[..., Any]) -> Electron:
        return Electron(
            function,
            executor=executor,
            deps_bash=deps_bash,
            deps_pip=deps_pip,
            call_before=call_before,
            call_after=call_after,
            files=files,
            retries=retries,
            retry_delay=retry_delay,
            timeout=timeout,
        )

    return wrap(_func) if _func is not None else wrap


def wait(child: ElectronOutput, parents: Any) -> ElectronOutput:
    """Make ``child`` start only after every electron in ``parents`` has finished."""
    builder = active_builder()
    if builder is None or not isinstance(child, ElectronOutput):
        return child  # outside a lattice there is nothing to order
    items = parents if isinstance(parents, (list, tuple)) else [parents]
    builder.add_wait(child, list(items))
    return child
