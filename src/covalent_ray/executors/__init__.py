"""Executors: where each electron runs (``ct.executor`` in Covalent's spelling).

- :class:`BaseExecutor` / :class:`AsyncBaseExecutor`: the contract custom executors
  implement (see :mod:`covalent_ray.executors.base`);
- :class:`DaskExecutor` (``"dask"``, the default), :class:`LocalExecutor`
  (``"local"``), :class:`RayExecutor` (``"ray"``): the built-ins;
- :mod:`~covalent_ray.executors.registry`: short names, plugins and config defaults;
- ``TaskRuntimeError`` / ``TaskCancelledError``: what executors raise to report a failed
  or cancelled task.

Plugin classes are attributes too, as in Covalent: ``ct.executor.TimingExecutor`` once a
plugin module defines it.

Executors know nothing of Ray's actors: the runtime's adaptors call them.
May import: the leaf modules and ``core``.
"""

from __future__ import annotations

import sys
from typing import Any

from .._exceptions import (
    ExecutorError,
    TaskCancelledError,
    TaskRuntimeError,
    UnknownExecutorError,
)
from . import registry
from .base import AsyncBaseExecutor, BaseExecutor, TaskControl, current_control
from .dask import DaskExecutor
from .local import LocalExecutor
from .ray import RayExecutor
from .registry import available, resolve

__all__ = [
    "AsyncBaseExecutor",
    "BaseExecutor",
    "DaskExecutor",
    "ExecutorError",
    "LocalExecutor",
    "RayExecutor",
    "TaskCancelledError",
    "TaskControl",
    "TaskRuntimeError",
    "UnknownExecutorError",
    "available",
    "current_control",
    "registry",
    "resolve",
]

# ``import covalent_ray as ct; ct.executor.BaseExecutor``: the package exposes itself as
# ``executor`` so the top-level lazy export table can map the name to this module.
executor = sys.modules[__name__]


def __getattr__(name: str) -> Any:
    cls = registry.find_class(name) if name[:1].isupper() else None
    if cls is None:
        raise AttributeError(f"module 'covalent_ray.executors' has no attribute {name!r}")
    return cls
