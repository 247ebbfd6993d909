"""What a trigger decides, as plain data and functions (no threads, no Ray, no watchdog).

- **Event names.** A directory trigger reacts to a subset of Covalent's event names
  (:data:`DIR_EVENTS`); :func:`event_names` normalises a name or a list and refuses
  unknown ones, saying which exist.
- **Batching.** :class:`EventBatch` counts the events a directory trigger is told about
  and says when ``batch_size`` of them have arrived (then starts counting again), as
  Covalent's ``DirTrigger`` does: one firing per ``batch_size`` matching events.
- **What a firing does.** :func:`firing_action`: a dispatch that was registered without
  running (``NEW_OBJECT``) is started by the first firing; any other status means the
  firing runs the registered dispatch again under a new dispatch ID (Covalent's
  ``BaseTrigger.trigger``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

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


class FiringAction(str, Enum):
    """What one firing of a trigger does to its dispatch."""

    START = "start"  # run the registered dispatch itself (it never ran)
    REDISPATCH = "redispatch"  # run it again as a new dispatch


def firing_action(status: str | None) -> FiringAction:
    """The action for a firing, given the registered dispatch's status."""
    if status is None or status == "NEW_OBJECT":
        return FiringAction.START
    return FiringAction.REDISPATCH
