"""A dispatch whose trigger fired once (shared by the trigger tests of the API)."""

from __future__ import annotations

import covalent_ray as ct
from covalent_ray.client.connect import call

from . import workflows as wf


def fired_once() -> tuple[str, str]:
    """A finished dispatch, and the run its (then stopped) TimeTrigger started, waiting on
    the change feed for that run (no polling)."""
    original = ct.dispatch(wf.api_hello)("Hello", "World")
    ct.get_result(original, wait=True, timeout=120)
    since = call(lambda conn, _: conn.result_manager.changes.remote(2**62, 0.0), "feed")["seq"]
    ct.triggers.TimeTrigger(time_gap=0.2, lattice_dispatch_id=original).register()
    run = None
    for _ in range(30):
        news = call(lambda conn, _, s=since: conn.result_manager.changes.remote(s, 10.0), "feed")
        since = news["seq"]
        runs = [
            c["dispatch_id"]
            for c in news["changes"]
            if c["type"] == "dispatch" and c["dispatch_id"] != original
        ]
        if runs:
            run = runs[0]
            break
    ct.stop_triggers(original)
    assert run is not None, "the trigger did not fire within five minutes"
    ct.get_result(run, wait=True, timeout=120)
    return original, run
