"""The service's files as the CLI shows and removes them: its log (``logs``, read by
:mod:`covalent_ray._logfile`, which the API shares) and what ``purge`` deletes."""

from __future__ import annotations

import shutil
from pathlib import Path

from .._home import db_path, ends_dir, objects_dir
from .._logfile import FOLLOW_INTERVAL_S, follow, read_new, service_log, tail

__all__ = ["FOLLOW_INTERVAL_S", "follow", "purge_plan", "read_new", "remove", "service_log", "tail"]


def purge_plan(home: Path, hard: bool) -> list[Path]:
    """What ``covalent-ray purge`` deletes in ``home``: everything but the results (the
    database, stored objects and unrecorded ends), and with ``hard`` those too."""
    if not home.is_dir():
        return []
    results = {
        db_path(home).name,
        f"{db_path(home).name}.wal",
        objects_dir(home).name,
        ends_dir(home).name,  # electrons' ends the result manager has not recorded yet
    }
    return sorted(p for p in home.iterdir() if hard or p.name not in results)


def remove(paths: list[Path]) -> list[Path]:
    """Delete files and directory trees; returns those removed."""
    removed = []
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        if not p.exists():
            removed.append(p)
    return removed
