"""Executor lookup: short names to executor classes, and names or instances to executors.

Names come from three places, searched in this order (the first one to provide a name
keeps it):

1. the built-ins: ``dask`` (the default, Dask-on-Ray), ``local``, ``ray``;
2. installed plugins: entry points in the group ``covalent_ray.executors``. An entry
   point names either the executor class (``timing = my_pkg.timing:TimingExecutor``) or
   a Covalent-style plugin module (``timing = my_pkg.timing``); the short name is the
   entry point's name;
3. executor modules in the directories of config ``sdk.executor_dir`` and
   ``$COVALENT_RAY_EXECUTOR_DIR`` (``:``-separated). As in Covalent, a module there
   names its class with ``EXECUTOR_PLUGIN_NAME = "ClassName"`` and may set
   ``_EXECUTOR_PLUGIN_DEFAULTS = {...}``; its short name is the file name.

A name resolves to ``cls(**settings)``, where ``settings`` is the config table
``[executors.<name>]`` merged over the plugin's defaults. ``None``, ``"dask"``,
``"default"`` and a ``DaskExecutor`` instance resolve to ``None``: the default executor.

Plugins are found once and cached; the cache is keyed by ``sys.path`` and the executor
directories, so installing a plugin or changing the directory is picked up, and
:func:`refresh` forces a new search.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import importlib.metadata

from .._exceptions import ExecutorError, UnknownExecutorError
from ..core.graph import DEFAULT_EXECUTOR
from .base import AsyncBaseExecutor, BaseExecutor

ENTRY_POINT_GROUP = "covalent_ray.executors"
DEFAULT_NAMES = frozenset({DEFAULT_EXECUTOR, "default"})
# Executor modules loaded from a directory live under this prefix in sys.modules (so
# cloudpickle can ship their classes by value to workers that lack the file).
DIR_MODULE_PREFIX = "covalent_ray_executor_dir"

_BUILTINS = {
    DEFAULT_EXECUTOR: "covalent_ray.executors.dask",
    "local": "covalent_ray.executors.local",
    "ray": "covalent_ray.executors.ray",
    "ssh": "covalent_ray.executors.ssh",
    "slurm": "covalent_ray.executors.slurm",
}


_load_lock = threading.RLock()


@dataclass
class _Plugin:
    """One named executor: where it comes from, and how to get its class."""

    name: str
    origin: str
    load: Callable[[], tuple[type, dict[str, Any]]]  # class and plugin defaults
    _loaded: tuple[type, dict[str, Any]] | None = field(default=None, repr=False)
    _error: BaseException | None = field(default=None, repr=False)

    def get(self) -> tuple[type, dict[str, Any]]:
        """The class and defaults, loaded once; an ``ExecutorError`` if loading fails."""
        if self._loaded is None and self._error is None:
            with _load_lock:  # adaptor threads may resolve at once: import a module once
                if self._loaded is None and self._error is None:
                    try:
                        self._loaded = self.load()
                    except Exception as exc:
                        self._error = exc
        if self._error is not None:
            raise ExecutorError(
                f"executor {self.name!r} ({self.origin}) cannot be loaded: "
                f"{type(self._error).__name__}: {self._error}"
            ) from self._error
        assert self._loaded is not None
        return self._loaded


def _plugin_class(module: ModuleType, origin: str) -> tuple[type, dict[str, Any]]:
    """The executor class a Covalent-style plugin module names, and its defaults."""
    class_name = getattr(module, "EXECUTOR_PLUGIN_NAME", None) or getattr(
        module, "executor_plugin_name", None
    )
    if not class_name:
        raise ExecutorError(f"{origin} does not set EXECUTOR_PLUGIN_NAME = '<class name>'")
    cls = getattr(module, str(class_name), None)
    if not isinstance(cls, type):
        raise ExecutorError(
            f"{origin} sets EXECUTOR_PLUGIN_NAME = {class_name!r} but defines no such class"
        )
    _check_executor_class(cls, origin)
    defaults = getattr(module, "_EXECUTOR_PLUGIN_DEFAULTS", None) or {}
    return cls, dict(defaults)


def _check_executor_class(cls: type, origin: str) -> None:
    if not issubclass(cls, (BaseExecutor, AsyncBaseExecutor)):
        raise ExecutorError(
            f"{cls.__qualname__} from {origin} is not a subclass of "
            "covalent_ray.executors.BaseExecutor or AsyncBaseExecutor"
        )


def _builtin(name: str, module_name: str) -> _Plugin:
    return _Plugin(
        name,
        f"built-in ({module_name})",
        lambda: _plugin_class(importlib.import_module(module_name), module_name),
    )


def _entry_point(ep: importlib.metadata.EntryPoint) -> _Plugin:
    dist = getattr(ep, "dist", None)
    where = f" from {dist.name} {dist.version}" if dist is not None else ""
    origin = f"entry point {ep.name} = {ep.value}{where}"

    def load() -> tuple[type, dict[str, Any]]:
        obj = ep.load()
        if isinstance(obj, ModuleType):
            return _plugin_class(obj, origin)
        if not isinstance(obj, type):
            raise ExecutorError(f"{origin} is neither an executor class nor a plugin module")
        _check_executor_class(obj, origin)
        return obj, dict(getattr(obj, "_EXECUTOR_PLUGIN_DEFAULTS", None) or {})

    return _Plugin(ep.name, origin, load)


def _dir_module(path: Path) -> _Plugin:
    origin = f"executor module {path}"

    def load() -> tuple[type, dict[str, Any]]:
        import importlib.util

        module_name = f"{DIR_MODULE_PREFIX}.{path.stem}"
        existing = sys.modules.get(module_name)
        if existing is not None and getattr(existing, "__file__", None) == str(path):
            module = existing
        else:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise ExecutorError(f"{origin} cannot be imported")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module  # classes must find their module to pickle
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(module_name, None)
                raise
            import cloudpickle

            cloudpickle.register_pickle_by_value(module)  # workers have no such module
        return _plugin_class(module, origin)

    return _Plugin(path.stem, origin, load)


class _Registry:
    """The plugins found for one ``sys.path`` and set of executor directories."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._plugins: dict[str, _Plugin] = {}

    def plugins(self) -> dict[str, _Plugin]:
        from .._config import executor_dirs

        dirs = executor_dirs()
        key = (
            tuple(sys.path),
            tuple(dirs),
            tuple(sorted(str(p) for d in dirs for p in _modules_in(d))),
        )
        with self._lock:
            if key != self._key:
                self._plugins = self._search(dirs)
                self._key = key
            return self._plugins

    def clear(self) -> None:
        with self._lock:
            self._key = None
            self._plugins = {}

    @staticmethod
    def _search(dirs: list[Path]) -> dict[str, _Plugin]:
        import importlib.metadata  # slow to import: only when plugins are looked up

        found: dict[str, _Plugin] = {}
        for name, module_name in _BUILTINS.items():
            found[name] = _builtin(name, module_name)
        importlib.invalidate_caches()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            found.setdefault(ep.name, _entry_point(ep))
        for directory in dirs:
            for path in _modules_in(directory):
                found.setdefault(path.stem, _dir_module(path))
        return found


def _modules_in(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.py") if p.name != "__init__.py")


_registry = _Registry()


def refresh() -> None:
    """Forget the plugins found so far; the next lookup searches again."""
    _registry.clear()


def available() -> dict[str, str]:
    """Every executor name, with where it comes from (built-in, entry point or module path)."""
    return {name: plugin.origin for name, plugin in sorted(_registry.plugins().items())}


def plugin_defaults(name: str | None = None) -> dict[str, Any]:
    """The ``_EXECUTOR_PLUGIN_DEFAULTS`` of one plugin, or ``{name: defaults}`` of all.

    Plugins that fail to load contribute nothing here (their error appears on use).
    """
    if name is not None:
        return dict(_lookup(name).get()[1])
    result: dict[str, Any] = {}
    for plugin_name, plugin in _registry.plugins().items():
        try:
            defaults = plugin.get()[1]
        except ExecutorError:
            continue
        if defaults:
            result[plugin_name] = dict(defaults)
    return result


def settings(name: str) -> dict[str, Any]:
    """The constructor arguments a name gets: ``[executors.<name>]`` over plugin defaults."""
    from .._config import raw_config

    merged = plugin_defaults(name)
    configured = raw_config(f"executors.{name}", {})
    if not isinstance(configured, dict):
        raise ExecutorError(
            f"config executors.{name} must be a table of settings, not {configured!r}"
        )
    merged.update(configured)
    return merged


def _lookup(name: str) -> _Plugin:
    plugins = _registry.plugins()
    plugin = plugins.get(name)
    if plugin is None:
        names = ", ".join(sorted(plugins))
        raise UnknownExecutorError(
            f"unknown executor {name!r}; available executors: {names}. Install a plugin that "
            f"registers the entry point group {ENTRY_POINT_GROUP!r}, or put a module defining "
            "EXECUTOR_PLUGIN_NAME in a directory listed in config sdk.executor_dir or "
            "$COVALENT_RAY_EXECUTOR_DIR."
        )
    return plugin


def is_default(executor: Any) -> bool:
    """Whether ``executor`` means the default executor (Dask-on-Ray)."""
    if executor is None:
        return True
    if isinstance(executor, str):
        return executor in DEFAULT_NAMES
    return bool(getattr(type(executor), "is_default", False))


def resolve(executor: Any) -> BaseExecutor | AsyncBaseExecutor | None:
    """The executor instance for a short name or an instance; ``None`` for the default.

    Raises ``UnknownExecutorError`` for a name nobody provides (listing those that exist)
    and ``ExecutorError`` for a plugin that cannot be loaded or built from its settings,
    or for an object that is not an executor.
    """
    if is_default(executor):
        return None
    if isinstance(executor, (BaseExecutor, AsyncBaseExecutor)):
        return executor
    if not isinstance(executor, str):
        raise ExecutorError(
            f"{executor!r} is not an executor: pass a short name such as 'local' or an "
            "instance of a covalent_ray.executors.BaseExecutor / AsyncBaseExecutor subclass"
        )
    plugin = _lookup(executor)
    cls, _ = plugin.get()
    kwargs = settings(executor)
    try:
        return cls(**kwargs)
    except Exception as exc:
        raise ExecutorError(
            f"executor {executor!r} ({plugin.origin}) could not be created with settings "
            f"{kwargs!r} (config [executors.{executor}] over the plugin's defaults): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def find_class(class_name: str) -> type | None:
    """A registered executor class by its class name (``ct.executor.TimingExecutor``)."""
    for plugin in _registry.plugins().values():
        try:
            cls = plugin.get()[0]
        except ExecutorError:
            continue
        if cls.__name__ == class_name:
            return cls
    return None
