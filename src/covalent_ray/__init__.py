"""covalent-ray: Covalent's workflow model on Ray, with every result kept in DuckDB.

``import covalent_ray as ct`` is light: Ray, DuckDB and FastAPI load only when a call
needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

_EXPORTS = {
    "electron": "covalent_ray.sdk.electron",
    "lattice": "covalent_ray.sdk.lattice",
    "wait": "covalent_ray.sdk.electron",
    "dispatch": "covalent_ray.sdk.dispatch",
    "dispatch_sync": "covalent_ray.sdk.dispatch",
    "get_result": "covalent_ray.sdk.dispatch",
    "cancel": "covalent_ray.sdk.dispatch",
    "redispatch": "covalent_ray.sdk.dispatch",
    "Result": "covalent_ray.sdk.result",
    "TransportableObject": "covalent_ray.sdk.result",
    "get_context": "covalent_ray.core.context",
    "Status": "covalent_ray._status",
    "sql": "covalent_ray.sdk.sql",
    "executor": "covalent_ray.executors",
    "DepsPip": "covalent_ray.sdk.deps",
    "DepsBash": "covalent_ray.sdk.deps",
    "DepsCall": "covalent_ray.sdk.deps",
    "DepsModule": "covalent_ray.sdk.deps",
    "get_config": "covalent_ray.sdk.config",
    "set_config": "covalent_ray.sdk.config",
    "Lepton": "covalent_ray.sdk.lepton",
    "reload_config": "covalent_ray.sdk.config",
    "covalent_start": "covalent_ray.sdk.service",
    "covalent_stop": "covalent_ray.sdk.service",
    "is_covalent_running": "covalent_ray.sdk.service",
    "stop_triggers": "covalent_ray.sdk.triggers",
}

#: names that are modules (``ct.fs.FileTransfer``, ``ct.leptons.bash``)
_MODULES = {
    "fs": "covalent_ray.sdk.fs",
    "fs_strategies": "covalent_ray.transfer.strategies",
    "leptons": "covalent_ray.sdk.lepton",
    "triggers": "covalent_ray.sdk.triggers",
}

__all__ = sorted([*_EXPORTS, *_MODULES, "status", "__version__"])

if TYPE_CHECKING:  # pragma: no cover
    from ._status import Status as Status
    from .core.context import get_context as get_context
    from .sdk.dispatch import dispatch as dispatch
    from .sdk.dispatch import dispatch_sync as dispatch_sync
    from .sdk.dispatch import get_result as get_result
    from .sdk.electron import electron as electron
    from .sdk.electron import wait as wait
    from .sdk.lattice import lattice as lattice
    from .sdk.result import Result as Result
    from .sdk.result import TransportableObject as TransportableObject


def __getattr__(name: str) -> Any:
    if name == "status":
        from ._status import Status

        return Status
    if name in _MODULES:
        value = import_module(_MODULES[name])
        globals()[name] = value
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'covalent_ray' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
