"""A trigger's firing runs the stored dispatch again through the service."""

from __future__ import annotations

import threading

import pytest

import covalent_ray as ct

pytestmark = pytest.mark.usefixtures("service")

DEADLINE_S = 300.0


@ct.electron
def double(x):
    return 2 * x


@ct.lattice
def doubling(x):
    return double(x)


def test_each_firing_is_a_new_dispatch_of_the_stored_one() -> None:
    first = ct.dispatch(doubling)(21)
    assert ct.get_result(first, wait=True, timeout=DEADLINE_S).result == 42
    trig = ct.triggers.TimeTrigger(time_gap=0.05, lattice_dispatch_id=first)
    fired = threading.Event()
    original = trig.trigger

    def trigger_and_count() -> str:
        new_id = original()
        if len(trig.new_dispatch_ids) >= 2:
            trig.stop()
            fired.set()
        return new_id

    trig.trigger = trigger_and_count  # type: ignore[method-assign]
    observer = threading.Thread(target=trig.observe, daemon=True)
    observer.start()
    assert fired.wait(DEADLINE_S)
    observer.join(DEADLINE_S)
    assert not observer.is_alive()
    assert len(trig.new_dispatch_ids) == 2 and first not in trig.new_dispatch_ids
    for new_id in trig.new_dispatch_ids:
        result = ct.get_result(new_id, wait=True, timeout=DEADLINE_S)
        assert result.status == ct.status.COMPLETED, result.error
        assert result.result == 42
