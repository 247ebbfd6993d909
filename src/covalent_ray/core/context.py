"""``ct.get_context()``: which dispatch and electron the current code runs for."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskContext:
    """Identity of the running electron."""

    dispatch_id: str
    node_id: int
    node_name: str
    root_dispatch_id: str
    attempt: int = 1

    @property
    def task_id(self) -> int:
        """Covalent's name for ``node_id``."""
        return self.node_id


current: ContextVar[TaskContext | None] = ContextVar("covalent_ray_task", default=None)


def get_context() -> TaskContext:
    """The context of the electron running now; raises outside an electron."""
    ctx = current.get()
    if ctx is None:
        raise RuntimeError("ct.get_context() works only inside a running electron")
    return ctx
