"""What a trigger decides, as plain data and functions (no threads, no Ray, no watchdog).

- **Event names.** A directory trigger reacts to a subset of Covalent's event names
  (:data:`DIR_EVENTS`); :func:`event_names` normalises a name or a list and refuses
  unknown ones, saying which exist.
- **Batching.** :class:`EventBatch` counts the events a directory trigger is told about
  and says when ``batch_size`` of them have arrived (then starts counting again), as
  Covalent's ``DirTrigger`` does: one firing per ``batch_size`` matching events.
- **Polling a table.** A database trigger (``SQLiteTrigger``, ``DatabaseTrigger``) runs
  :func:`poll_query` (``SELECT *`` from a table, its ``where_clauses`` ANDed) every
  ``poll_interval`` seconds; :class:`PollCount` says when to fire: on every
  ``trigger_after_n``-th poll that found rows, as Covalent's database triggers do (rows
  found, not rows new: a table that keeps matching keeps firing).
- **What a firing does.** :func:`firing_action`: a dispatch that was registered without
  running (``NEW_OBJECT``) is started by the first firing; any other status means the
  firing runs the registered dispatch again under a new dispatch ID (Covalent's
  ``BaseTrigger.trigger``).
- **Registration and lineage.** :class:`TriggerSpec` is what the service keeps of one
  registered trigger (its ID, its dispatch, its kind, readable settings and the
  cloudpickled trigger); :func:`trigger_row` is its row in the ``triggers`` table, whose
  :class:`TriggerState` moves ``active`` -> ``stopped`` only. :func:`lineage` is what a
  new dispatch started by a firing records about where it came from.
- **Listing.** :func:`public_row` is a stored trigger as ``status``, the REST API and the
  dashboard show it (JSON values, without the pickled trigger); :func:`trigger_line` is
  its line in ``covalent-ray status``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

#: the events a DirTrigger can react to (watchdog's event types, Covalent's names)
DIR_EVENTS = ("created", "deleted", "modified", "moved", "closed")


def event_names(names: str | Iterable[str]) -> list[str]:
    """``names`` as a list of known event names; unknown names raise ``ValueError``."""
    listed = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in listed if n not in DIR_EVENTS]
    if unknown or not listed:
        raise ValueError(
            f"unknown DirTrigger event names {unknown or listed!r}; choose among {list(DIR_EVENTS)}"
        )
    return listed


@dataclass
class EventBatch:
    """Counts matching events; :meth:`add` is True on every ``batch_size``-th one."""

    names: tuple[str, ...]
    batch_size: int = 1
    pending: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")

    def add(self, event_type: str) -> bool:
        """Count one event of ``event_type``; True when a batch is complete (it resets)."""
        if event_type not in self.names:
            return False
        self.pending += 1
        if self.pending < self.batch_size:
            return False
        self.pending = 0
        return True


def poll_query(table_name: str, where_clauses: str | Iterable[str] | None = None) -> str:
    """``SELECT * FROM <table_name> WHERE (<c1>) AND (<c2>) ...``: what a database
    trigger runs on each poll. One clause may be given as a string; each clause is
    parenthesised so that one holding ``OR`` stays one condition."""
    if not isinstance(table_name, str) or not table_name.strip():
        raise ValueError(
            f"a database trigger needs the name of a table to poll, got {table_name!r}"
        )
    clauses = [where_clauses] if isinstance(where_clauses, str) else list(where_clauses or [])
    bad = [c for c in clauses if not isinstance(c, str) or not c.strip()]
    if bad:
        raise ValueError(
            f"where_clauses must be SQL conditions as strings (e.g. ['id > 2', "
            f"\"status = 'pending'\"]), got {bad!r}"
        )
    query = f"SELECT * FROM {table_name.strip()}"
    if clauses:
        query += " WHERE " + " AND ".join(f"({c.strip()})" for c in clauses)
    return query


@dataclass
class PollCount:
    """Counts the polls of a database trigger that found rows; :meth:`add` is True on
    every ``trigger_after_n``-th one (then it counts again from zero)."""

    trigger_after_n: int = 1
    pending: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.trigger_after_n, bool) or not isinstance(self.trigger_after_n, int):
            raise ValueError(f"trigger_after_n must be an integer, got {self.trigger_after_n!r}")
        if self.trigger_after_n < 1:
            raise ValueError(f"trigger_after_n must be at least 1, got {self.trigger_after_n}")

    def add(self, found_rows: bool) -> bool:
        """Count one poll; True when it completes ``trigger_after_n`` polls with rows."""
        if not found_rows:
            return False
        self.pending += 1
        if self.pending < self.trigger_after_n:
            return False
        self.pending = 0
        return True


def positive_interval(value: float, what: str) -> float:
    """``value`` if it is a positive number of seconds, else ``ValueError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return value


def hide_url_password(url: str) -> str:
    """A database URL (``dialect+driver://user:password@host/db``) with its password
    replaced by ``***``, for display; a string without one is returned as it is."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    path = re.sub(r"(?i)\b(password|passwd|pwd)=[^&;]*", r"\1=***", path)
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    return f"{scheme}://{netloc}{slash}{path}"


class FiringAction(str, Enum):
    """What one firing of a trigger does to its dispatch."""

    START = "start"  # run the registered dispatch itself (it never ran)
    REDISPATCH = "redispatch"  # run it again as a new dispatch


def firing_action(status: str | None) -> FiringAction:
    """The action for a firing, given the registered dispatch's status."""
    if status is None or status == "NEW_OBJECT":
        return FiringAction.START
    return FiringAction.REDISPATCH


class TriggerState(str, Enum):
    """Where a registered trigger is in its life."""

    ACTIVE = "active"  # observing (recreated whenever the service starts)
    STOPPED = "stopped"  # ct.stop_triggers stopped it; never runs again

    def __str__(self) -> str:
        return self.value


#: attributes of a trigger that are state of a run, not settings
_RUNTIME_KEYS = frozenset({"event_loop", "stop_flag", "new_dispatch_ids", "name"})


def readable_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A trigger's settings (its ``to_dict()``) as JSON values, for display and SQL;
    values that are not JSON types appear as their ``repr``."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if key in _RUNTIME_KEYS or key.startswith("_"):
            continue
        try:
            json.dumps(value)
            out[key] = value
        except (TypeError, ValueError):
            out[key] = repr(value)
    return out


@dataclass(frozen=True)
class TriggerSpec:
    """One trigger as the service keeps it."""

    trigger_id: str
    dispatch_id: str  # the dispatch its firings start or run again
    kind: str  # the trigger's class name (``DirTrigger``, ``TimeTrigger``, ...)
    settings: dict[str, Any]  # readable settings (``readable_settings``)
    data: bytes  # the cloudpickled trigger


def trigger_row(spec: TriggerSpec, now: datetime) -> dict[str, Any]:
    """The ``triggers`` row of a newly registered trigger."""
    return {
        "trigger_id": spec.trigger_id,
        "dispatch_id": spec.dispatch_id,
        "kind": spec.kind,
        "settings": json.dumps(spec.settings),
        "trigger_data": spec.data,
        "state": TriggerState.ACTIVE.value,
        "created_at": now,
    }


def lineage(dispatch_id: str | None, trigger_id: str | None) -> dict[str, str | None]:
    """The columns a dispatch started by a firing of ``trigger_id`` (a trigger of
    ``dispatch_id``) records: SQL finds every firing's dispatch by ``triggered_by``
    (both None for a dispatch no trigger started)."""
    return {"triggered_by": dispatch_id, "trigger_id": trigger_id}


def public_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``triggers`` row as JSON values: times in ISO 8601 (UTC), settings as a dict,
    the pickled trigger left out."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "trigger_data":
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif key == "settings" and isinstance(value, str):
            value = json.loads(value)
        out[key] = value
    return out


#: the settings shown in a trigger's status line, by kind (others: all of them)
_SHOWN = {
    "DirTrigger": ("dir_path", "event_names", "batch_size"),
    "TimeTrigger": ("time_gap",),
    "SQLiteTrigger": ("db_path", "table_name", "where_clauses", "trigger_after_n"),
    "DatabaseTrigger": ("db_path", "table_name", "where_clauses", "trigger_after_n"),
}


def trigger_line(row: Mapping[str, Any]) -> str:
    """``TimeTrigger of <dispatch> (time_gap=2): fired 4 times`` for ``status``."""
    settings = row.get("settings") or {}
    if isinstance(settings, str):
        settings = json.loads(settings)
    shown = _SHOWN.get(str(row.get("kind")))
    if shown is None:
        shown = tuple(k for k in settings if k not in ("lattice_dispatch_id", "observe_blocks"))
    words = ", ".join(f"{k}={settings[k]!r}" for k in shown if k in settings)
    n = int(row.get("firings") or 0)
    line = f"{row.get('kind')} of {row.get('dispatch_id')} ({words}): fired {n} time"
    line += "" if n == 1 else "s"
    if row.get("error"):
        line += f"; last error: {row['error']}"
    return line
