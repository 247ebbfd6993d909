"""Where covalent-ray keeps its state on this machine.

The home directory holds the database, large stored objects, logs, the config file and
``service.json`` (how to reach the running service). It is ``--home`` on the CLI, else
``$COVALENT_RAY_HOME``, else ``~/.local/share/covalent_ray``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "COVALENT_RAY_HOME"
NAMESPACE = "covalent_ray"
DISPATCHER_NAME = "covalent_ray.dispatcher"
RESULT_MANAGER_NAME = "covalent_ray.result_manager"


def home_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The home directory in effect (not created)."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser().resolve()
    return Path("~/.local/share/covalent_ray").expanduser()


def db_path(home: Path) -> Path:
    """The DuckDB file holding every result."""
    return home / "results.duckdb"


def objects_dir(home: Path) -> Path:
    """Where stored objects too large for the database live."""
    return home / "objects"


def results_path(home: Path) -> Path:
    """Where electrons' results directories (executors' ``results_dir``) live."""
    return home / "results"


def logs_dir(home: Path) -> Path:
    """Logs of the processes the service starts."""
    return home / "logs"


def service_file(home: Path) -> Path:
    """How to reach the running service (written by ``covalent-ray start``)."""
    return home / "service.json"


def config_file(home: Path) -> Path:
    """The TOML config file (``ct.get_config`` / ``ct.set_config``)."""
    return home / "covalent_ray.toml"
