"""Executors: where each electron runs (``ct.executor`` in Covalent's spelling).

- :class:`BaseExecutor` / :class:`AsyncBaseExecutor`: the contract custom executors
  implement (see :mod:`covalent_ray.executors.base`);
- :class:`DaskExecutor` (``"dask"``, the default), :class:`LocalExecutor`
  (``"local"``), :class:`RayExecutor` (``"ray"``), :class:`SSHExecutor` (``"ssh"``, a
  remote host over SSH), :class:`SlurmExecutor` (``"slurm"``, batch jobs): the built-ins;
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
    "SSHExecutor",
    "SlurmExecutor",
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


# Built-ins whose modules import asyncio: loaded on first use, so `import covalent_ray`
# stays light.
_LAZY = {"SSHExecutor": "ssh", "SlurmExecutor": "slurm"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    cls = registry.find_class(name) if name[:1].isupper() else None
    if cls is None:
        raise AttributeError(f"module 'covalent_ray.executors' has no attribute {name!r}")
    return cls
