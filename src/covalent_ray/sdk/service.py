"""``ct.covalent_start()``, ``ct.covalent_stop()``, ``ct.is_covalent_running()``: Covalent's
programmatic service commands, as thin wrappers over ``covalent-ray start`` / ``stop``.

They run the command line in a subprocess (as Covalent's do), so a script or notebook
gets exactly what the shell would, and this process does not become the service's driver.
Covalent's Dask options (``mem_per_worker``, ``workers``, ``threads_per_worker``,
``no_cluster``, ...) are accepted and ignored: Ray schedules the electrons.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

__all__ = ["covalent_start", "covalent_stop", "is_covalent_running"]


def _run(args: list[str], quiet: bool, home: str | os.PathLike[str] | None) -> None:
    command = [sys.executable, "-m", "covalent_ray.cli.main", *args]
    if home is not None:
        command += ["--home", str(home)]
    proc = subprocess.run(command, capture_output=True, text=True)
    if not quiet and proc.stdout:
        print(proc.stdout, end="")
    if proc.returncode != 0:
        from .._exceptions import ServiceError

        detail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise ServiceError(
            f"`covalent-ray {' '.join(args)}` failed (exit code {proc.returncode}): {detail}"
        )


def covalent_start(
    develop: bool = False,
    port: int | None = None,
    mem_per_worker: Any = None,
    workers: Any = None,
    threads_per_worker: Any = None,
    ignore_migrations: bool = False,
    no_cluster: bool = False,
    no_triggers: bool = False,
    triggers_only: bool = False,
    *,
    quiet: bool = False,
    home: str | os.PathLike[str] | None = None,
) -> None:
    """Start the service (``covalent-ray start``) unless it already runs.

    ``port`` is where the REST API and dashboard listen. Raises ``ServiceError`` with the
    command's output when it fails.
    """
    if is_covalent_running(home=home):
        return
    args = ["start"]
    if port is not None:
        args += ["--port", str(int(port))]
    _run(args, quiet, home)


def covalent_stop(*, quiet: bool = False, home: str | os.PathLike[str] | None = None) -> None:
    """Stop the service (``covalent-ray stop``); nothing happens if it is not running."""
    if not is_covalent_running(home=home):
        return
    _run(["stop"], quiet, home)


def is_covalent_running(*, home: str | os.PathLike[str] | None = None) -> bool:
    """Whether the service of the home in effect runs (its recorded process is alive)."""
    from .._home import home_dir
    from ..client.connect import ServiceInfo

    try:
        info = ServiceInfo.read(home_dir(home))
    except Exception:
        return False
    if not info.ready or not info.service_pid:
        return False
    try:
        os.kill(info.service_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not running
        with open(f"/proc/{info.service_pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
