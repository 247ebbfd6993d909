"""Status values of dispatches and electrons.

The names are Covalent's, so code written against Covalent compares the same way:
``ct.status.COMPLETED == "COMPLETED"`` holds because ``Status`` is a ``str`` enum.
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """Lifecycle state of a dispatch or of one electron in it."""

    NEW_OBJECT = "NEW_OBJECT"
    STARTING = "STARTING"
    PENDING_REUSE = "PENDING_REUSE"
    RUNNING = "RUNNING"
    DISPATCHING = "DISPATCHING"
    POSTPROCESSING = "POSTPROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    POSTPROCESSING_FAILED = "POSTPROCESSING_FAILED"

    def __str__(self) -> str:  # str(Status.COMPLETED) == "COMPLETED", as in Covalent
        return self.value

    @property
    def is_terminal(self) -> bool:
        """True once nothing more will happen to the object in this state."""
        return self in TERMINAL


TERMINAL = frozenset(
    {Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.POSTPROCESSING_FAILED}
)

# Events about one electron can arrive out of order (they travel as independent
# actor calls); a state is only replaced by one of higher rank.
RANK = {
    Status.NEW_OBJECT: 0,
    Status.PENDING_REUSE: 1,
    Status.STARTING: 1,
    Status.RUNNING: 2,
    Status.DISPATCHING: 2,
    Status.POSTPROCESSING: 3,
    Status.COMPLETED: 4,
    Status.FAILED: 4,
    Status.CANCELLED: 4,
    Status.POSTPROCESSING_FAILED: 4,
}


def advances(old: str, new: str) -> bool:
    """Whether a state ``new`` may replace ``old`` (terminal states are final)."""
    o, n = Status(old), Status(new)
    if o.is_terminal:
        return False
    return RANK[n] >= RANK[o]


def javascript() -> str:
    """The dashboard's copy of these values (``ui/statuses.js``, generated from here:
    ``python -m covalent_ray._status > ui/statuses.js``; a test keeps it current)."""
    names = ", ".join(f'"{s.value}"' for s in Status)
    terminal = ", ".join(f'"{s.value}"' for s in Status if s in TERMINAL)
    return (
        "// Generated from covalent_ray/_status.py by `python -m covalent_ray._status`: "
        "do not edit.\n\n"
        f"export const STATUSES = [{names}];\n"
        f"export const TERMINAL = new Set([{terminal}]);\n"
    )


if __name__ == "__main__":
    print(javascript(), end="")
