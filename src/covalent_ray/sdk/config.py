"""``ct.get_config`` / ``ct.set_config`` / ``ct.reload_config``: the config file with
executor plugins' defaults and the running service's address.

The file and built-in defaults are :mod:`covalent_ray._config`'s; this adds

- the ``_EXECUTOR_PLUGIN_DEFAULTS`` of executor plugins under ``executors`` (imported only
  when a key under ``executors`` is read, so ``get_config("sdk.executor_dir")`` stays
  cheap), below the file;
- where the running service's REST API and dashboard listen, as Covalent's
  ``dispatcher.address`` / ``dispatcher.port`` (and ``user_interface.*``), over the file:
  they describe the service that runs, whatever the file says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import _config
from .._config import reload_config, set_config

__all__ = ["get_config", "reload_config", "set_config"]


def _wants_plugins(keys: list[str] | None) -> bool:
    return keys is None or any(k == "executors" or k.startswith("executors.") for k in keys)


def _wants_service(keys: list[str] | None) -> bool:
    sections = ("dispatcher", "user_interface")
    return keys is None or any(k.split(".", 1)[0] in sections for k in keys)


def running_service_address(home: Path | None = None) -> tuple[str, int] | None:
    """Host and port of the running service's REST API for the home in effect (or
    ``home``), if any."""
    from .._home import home_dir
    from ..client.connect import ServiceInfo

    try:
        info = ServiceInfo.read(home or home_dir())
    except Exception:  # not running (or an unreadable record): nothing to report
        return None
    if not info.api_url:
        return None
    url = urlsplit(info.api_url)
    if not url.hostname or not url.port:
        return None
    return url.hostname, url.port


def get_config(key: str | list[str] | None = None, *, home: Path | None = None) -> Any:
    """Read settings: everything (no key), one value (a dotted key), or several.

    A list of one key returns that value and a longer list a ``{key: value}`` dict, as in
    Covalent. A key that is neither set nor defaulted raises ``KeyError``. ``home``: the
    settings of that home (the service reads its own) rather than the home in effect's.
    """
    keys = _config.requested_keys(key)
    extra = over = None
    if _wants_plugins(keys):
        from ..executors.registry import plugin_defaults

        extra = {"executors": plugin_defaults()}
    if _wants_service(keys):
        address = running_service_address(home)
        if address is not None:
            host, port = address
            over = {
                "dispatcher": {"address": host, "port": port},
                "user_interface": {"address": host, "port": port},
            }
    return _config.get_config(key, extra=extra, over=over, home=home)
