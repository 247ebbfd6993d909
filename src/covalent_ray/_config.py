"""The config file: ``ct.get_config`` / ``ct.set_config``.

Settings live in ``<home>/covalent_ray.toml`` (see :mod:`covalent_ray._home`; the home
honours ``$COVALENT_RAY_HOME``). Keys are dotted paths into nested tables:
``"executors.local.workdir"`` is ``workdir`` in the ``[executors.local]`` table.

What a read returns is layers merged, later ones winning:

1. built-in defaults (:func:`defaults`; computed per call, because paths such as the
   local executor's workdir sit under the home in effect *now*);
2. any layers the caller adds: ``ct.get_config`` (``sdk/config.py``) adds the
   ``_EXECUTOR_PLUGIN_DEFAULTS`` of executor plugins for keys under ``executors``, so
   this module never imports the plugins (which read it);
3. the file.

The file is read on every call (it is tiny), so a change made by another process is
seen at once, and it only ever holds what someone set: defaults are never written to it.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._files import atomic_write
from ._home import config_file, db_path, home_dir, logs_dir

ENV_EXECUTOR_DIR = "COVALENT_RAY_EXECUTOR_DIR"


class ConfigKeyError(KeyError):
    """A config key that is neither set in the file nor has a default."""

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0]) if self.args else "unknown config key"


#: Covalent's environment variables, and the key each one sets when the file does not
#: (as in Covalent, the config file wins over the environment).
ENV_KEYS = {
    "COVALENT_DISPATCHER_ADDR": "dispatcher.address",
    "COVALENT_SVC_PORT": "dispatcher.port",
    "COVALENT_DATA_DIR": "dispatcher.results_dir",
    "COVALENT_CACHE_DIR": "dispatcher.cache_dir",
    "COVALENT_DATABASE": "dispatcher.db_path",
    "COVALENT_RESULTS_DIR": "sdk.results_dir",
    "COVALENT_LOGDIR": "sdk.log_dir",
    "LOGLEVEL": "sdk.log_level",
    "COVALENT_LOG_TO_FILE": "sdk.enable_logging",
    "COVALENT_DISABLE_DASK": "sdk.no_cluster",
    "COVALENT_EXECUTOR_DIR": "sdk.executor_dir",
}


def defaults(home: Path | None = None) -> dict[str, Any]:
    """Built-in defaults for the home in effect (or ``home``), Covalent's environment
    variables (:data:`ENV_KEYS`) applied.

    The sections are Covalent's, with the keys that mean something here: ``sdk``,
    ``dispatcher`` (``address``/``port`` are the service's REST API and dashboard; the
    SDK replaces them with the running service's, see ``sdk/config.py``),
    ``user_interface`` (the same server) and ``executors``.
    """
    home = home or home_dir()
    data: dict[str, Any] = {
        "sdk": {
            # Extra directories of executor modules, ":"-separated (Covalent's sdk.executor_dir).
            "executor_dir": "",
            "log_dir": str(logs_dir(home)),
            "log_level": "warning",
            "enable_logging": "false",
            "no_cluster": "false",
            "results_dir": str(home / "results"),
            "exhaustive_postprocess": "false",
            # Seconds a call keeps retrying through restarts of the service
            # ($COVALENT_RAY_RETRY_TIMEOUT overrides it).
            "retry_timeout": 120.0,
        },
        "dispatcher": {
            "address": "127.0.0.1",
            "port": 48008,
            "cache_dir": str(home / "cache"),
            "results_dir": str(home),
            "db_path": str(db_path(home)),
            # Seconds an executor's adaptor (its connection, its setup) stays up after
            # the last dispatch using it ended, for the next dispatch to reuse.
            "adaptor_idle_s": 30.0,
        },
        "user_interface": {"address": "127.0.0.1", "port": 48008},
        "executors": {
            "dask": {},
            "ray": {},
            "local": {
                "workdir": str(home / "workdir"),
                "create_unique_workdir": False,
            },
        },
    }
    for variable, key in ENV_KEYS.items():
        value = os.environ.get(variable)
        if value is None or value == "":
            continue
        section, name = key.split(".")
        if name == "port":
            try:
                data[section][name] = int(value)
            except ValueError:
                continue  # not a port: the default stands
        elif name in ("enable_logging", "no_cluster"):
            data[section][name] = "true" if value.lower() in ("1", "true", "yes") else "false"
        else:
            data[section][name] = value
    return data


def path() -> Path:
    """The config file of the home in effect (it may not exist yet)."""
    return config_file(home_dir())


def _read_file(file: Path) -> dict[str, Any]:
    try:
        with open(file, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(
            f"the config file {file} is not valid TOML: {exc}. Fix or delete it."
        ) from exc


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into ``base`` (in place), tables recursively."""
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
    return base


def _effective(
    extra: Mapping[str, Any] | None = None,
    over: Mapping[str, Any] | None = None,
    home: Path | None = None,
) -> dict[str, Any]:
    data = defaults(home)
    if extra:
        _merge(data, extra)
    _merge(data, _read_file(config_file(home) if home else path()))
    return _merge(data, over) if over else data


def _split(key: str) -> list[str]:
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ConfigKeyError(
            f"invalid config key {key!r}: use dotted names such as 'executors.local.workdir'"
        )
    return parts


def _lookup(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    parts = _split(key)
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[:depth]) or "the top level"
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "none (not a table)"
            raise ConfigKeyError(
                f"no config key {key!r}: {part!r} is not set under {where} (known: {known}). "
                f"Set it with ct.set_config({key!r}, value) or in {path()}."
            )
        node = node[part]
    return copy.deepcopy(node)


def requested_keys(key: str | list[str] | None) -> list[str] | None:
    """The keys a read asks for (None: everything)."""
    if key is None or (isinstance(key, list) and not key):
        return None
    return [key] if isinstance(key, str) else list(key)


def get_config(
    key: str | list[str] | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
    over: Mapping[str, Any] | None = None,
    home: Path | None = None,
) -> Any:
    """Read settings: everything (no key), one value (a dotted key), or several.

    A list of one key returns that value and a longer list a ``{key: value}`` dict, as in
    Covalent. A key that is neither set nor defaulted raises ``KeyError``. ``extra`` is a
    layer merged between the defaults and the file, ``over`` one merged over the file
    (facts rather than settings, such as the running service's address). ``home``: that
    home's defaults and file rather than the home in effect's.
    """
    keys = requested_keys(key)
    data = _effective(extra, over, home)
    if keys is None:
        return data
    if len(keys) == 1:
        return _lookup(data, keys[0])
    return {k: _lookup(data, k) for k in keys}


def raw_config(key: str, default: Any = None) -> Any:
    """A value from defaults and the file only (no plugins imported); ``default`` if unset.

    The executor registry reads ``sdk.executor_dir`` through this, since finding plugins
    cannot depend on plugins.
    """
    try:
        return _lookup(_effective(), key)
    except ConfigKeyError:
        return default


@contextmanager
def _locked(file: Path) -> Iterator[None]:
    """Serialize writers (two processes setting keys at once must not lose either)."""
    import fcntl

    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # the home is private
    lock_path = file.with_name(file.name + ".lock")
    with os.fdopen(os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _assign(data: dict[str, Any], key: str, value: Any) -> None:
    parts = _split(key)
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    if value is None:  # TOML has no null: None removes the setting (back to its default)
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value


def set_config(new_config: Mapping[str, Any] | str, new_value: Any = None) -> None:
    """Write settings to the config file: ``set_config(key, value)`` or ``set_config({k: v})``.

    Keys are dotted; a value of ``None`` removes the key from the file, so its default
    applies again. Values must be representable in TOML (strings, numbers, booleans,
    lists, tables).
    """
    import tomli_w

    updates = {new_config: new_value} if isinstance(new_config, str) else dict(new_config)
    file = path()
    with _locked(file):
        data = _read_file(file)
        for key, value in updates.items():
            _assign(data, key, value)
        try:
            text = tomli_w.dumps(data)
        except TypeError as exc:
            raise ValueError(f"cannot store {updates!r} in the TOML config file: {exc}") from exc
        atomic_write(file, text, mode=0o600)


def reload_config() -> None:
    """Read the config file again (Covalent's ``ct.reload_config``).

    Every read already sees the file as it is now, so this only checks that it is valid
    TOML, raising ``ValueError`` naming the file if it is not.
    """
    _read_file(path())


def executor_dirs() -> list[Path]:
    """Directories searched for executor modules: ``sdk.executor_dir`` then the env var."""
    entries: list[str] = []
    for value in (raw_config("sdk.executor_dir", ""), os.environ.get(ENV_EXECUTOR_DIR, "")):
        if isinstance(value, list):
            entries.extend(str(v) for v in value)
        elif value:
            entries.extend(str(value).split(os.pathsep))
    seen: list[Path] = []
    for entry in entries:
        p = Path(entry).expanduser()
        if entry and p not in seen:
            seen.append(p)
    return seen
