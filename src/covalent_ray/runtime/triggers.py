"""Triggers inside the service: one Ray actor per registered trigger.

Policy
------
- **Where they run.** Each active trigger runs in its own actor (:class:`TriggerRunner`),
  created by the dispatcher, which owns it: a trigger outlives the client that registered
  it, and ends with the service (a dispatcher that restarts, after a crash or a
  ``covalent-ray stop`` + ``start``, creates its triggers again from the ``triggers``
  table, so only a trigger marked stopped stays stopped).
- **What a firing does.** The trigger's ``trigger()`` hands the firing to the dispatcher
  (``Dispatcher.fire``): the registered dispatch starts if it never ran, else it runs
  again as a new dispatch that records its lineage (``core.triggers``). A firing that
  fails is logged and counted with its error in the ``triggers`` table; the trigger
  keeps observing.
- **Thin.** What to decide is ``core.triggers``'; how to observe is the trigger's own
  ``observe()`` (``sdk.triggers``, or the user's subclass), unpickled here.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import ray

from .. import _serialize
from .._home import NAMESPACE, RESULT_MANAGER_NAME

log = logging.getLogger(__name__)

FIRE_TIMEOUT_S = 300.0  # how long one firing may wait for the dispatcher


class TriggerRunner:
    """Runs one trigger's ``observe()`` and sends its firings to the dispatcher."""

    def __init__(self, trigger_id: str, data: bytes, dispatcher: Any) -> None:
        self.trigger_id = trigger_id
        self._dispatcher = dispatcher
        self._rm = ray.get_actor(RESULT_MANAGER_NAME, namespace=NAMESPACE)
        self.trigger = _serialize.loads(data)
        self.trigger._fire = self._fire
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def start(self) -> str:
        """Start observing (a blocking ``observe()`` runs in a thread of its own)."""
        if self.trigger.observe_blocks:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._observe, name=f"trigger-{self.trigger_id}", daemon=True
                )
                self._thread.start()
        else:
            self.trigger.observe()
        return "ok"

    def _observe(self) -> None:
        try:
            self.trigger.observe()
        except Exception as exc:  # the trigger's own code failed: say so where it is listed
            log.exception("trigger %s stopped observing", self.trigger_id)
            self.error = f"observe() raised {type(exc).__name__}: {exc}"
            self._rm.trigger_fired.remote(self.trigger_id, self.error)

    def _fire(self, trig: Any) -> str | None:
        try:
            new_id = ray.get(
                self._dispatcher.fire.remote(str(trig.lattice_dispatch_id), self.trigger_id),
                timeout=FIRE_TIMEOUT_S,
            )
        except Exception as exc:
            log.exception("a firing of trigger %s failed", self.trigger_id)
            error = f"firing failed: {type(exc).__name__}: {exc}"
            self._rm.trigger_fired.remote(self.trigger_id, error)
            return None
        return str(new_id)

    def stop(self) -> None:
        """Stop observing; returns once no firing can start any more."""
        try:
            self.trigger.stop()
        except Exception:
            log.exception("stopping trigger %s failed", self.trigger_id)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def describe(self) -> dict[str, Any]:
        """The trigger's live state: the dispatches its firings made, its error."""
        return {
            "trigger_id": self.trigger_id,
            "new_dispatch_ids": list(self.trigger.new_dispatch_ids),
            "observing": self._thread.is_alive() if self._thread is not None else True,
            "error": self.error,
        }


class TriggerPool:
    """The dispatcher's trigger actors, by trigger ID."""

    def __init__(self) -> None:
        self._runners: dict[str, tuple[str, Any]] = {}  # trigger -> (dispatch, actor)
        self._lock = threading.Lock()

    def start(self, trigger_id: str, dispatch_id: str, data: bytes, dispatcher: Any) -> Any:
        """Create and start the actor of one trigger (once; a known one is left alone)."""
        with self._lock:
            known = self._runners.get(trigger_id)
            if known is not None:
                return None
            actor = (
                ray.remote(TriggerRunner)
                .options(num_cpus=0, max_concurrency=4, name=None)
                .remote(trigger_id, data, dispatcher)
            )
            self._runners[trigger_id] = (dispatch_id, actor)
        return actor.start.remote()

    async def stop(self, trigger_ids: list[str]) -> None:
        """Stop and remove these triggers' actors."""
        with self._lock:
            found = [self._runners.pop(t) for t in trigger_ids if t in self._runners]
        for _, actor in found:
            try:
                await actor.stop.remote()
            except Exception:
                log.exception("stopping a trigger actor failed")
            ray.kill(actor, no_restart=True)

    async def describe(self) -> dict[str, dict[str, Any]]:
        """Each live trigger's state (``TriggerRunner.describe``), by trigger ID."""
        with self._lock:
            live = list(self._runners.items())
        out = {}
        for trigger_id, (_, actor) in live:
            try:
                out[trigger_id] = await actor.describe.remote()
            except Exception:  # just died: left out
                continue
        return out
