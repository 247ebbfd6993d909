"""``ct.get_config`` / ``ct.set_config``: the config file with executor plugins' defaults.

The file and built-in defaults are :mod:`covalent_ray._config`'s; this adds the
``_EXECUTOR_PLUGIN_DEFAULTS`` of executor plugins under ``executors`` (imported only when
a key under ``executors`` is read, so ``get_config("sdk.executor_dir")`` stays cheap).
"""

from __future__ import annotations

from typing import Any

from .. import _config
from .._config import set_config

__all__ = ["get_config", "set_config"]


def _wants_plugins(keys: list[str] | None) -> bool:
    return keys is None or any(k == "executors" or k.startswith("executors.") for k in keys)


def get_config(key: str | list[str] | None = None) -> Any:
    """Read settings: everything (no key), one value (a dotted key), or several.

    A list of one key returns that value and a longer list a ``{key: value}`` dict, as in
    Covalent. A key that is neither set nor defaulted raises ``KeyError``.
    """
    extra = None
    if _wants_plugins(_config.requested_keys(key)):
        from ..executors.registry import plugin_defaults

        extra = {"executors": plugin_defaults()}
    return _config.get_config(key, extra=extra)
