"""Covalent's triggers observe and fire (with a firing function instead of a service)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import covalent_ray as ct

DEADLINE_S = 60.0


class Firings:
    """A firing function that records each firing and opens a gate at the n-th."""

    def __init__(self, n: int) -> None:
        self.ids: list[str] = []
        self.reached = threading.Event()
        self.n = n
        self.lock = threading.Lock()

    def __call__(self, trig: ct.triggers.BaseTrigger) -> str:
        with self.lock:
            new_id = f"{trig.lattice_dispatch_id}-run{len(self.ids)}"
            self.ids.append(new_id)
            if len(self.ids) >= self.n:
                self.reached.set()
        return new_id


def test_dir_trigger_fires_once_per_batch_of_created_files(tmp_path: Path) -> None:
    watched = tmp_path / "inbox"
    watched.mkdir()
    trig = ct.triggers.DirTrigger(str(watched), event_names="created", batch_size=2)
    trig.lattice_dispatch_id = "d1"
    fire = trig._fire = Firings(2)
    trig.observe()
    try:
        for i in range(4):
            (watched / f"f{i}.txt").write_text(str(i))
        assert fire.reached.wait(DEADLINE_S), f"fired {fire.ids} for four files"
    finally:
        trig.stop()
    assert fire.ids == ["d1-run0", "d1-run1"]  # four files, batches of two
    assert trig.new_dispatch_ids == fire.ids


def test_time_trigger_fires_repeatedly_until_stopped() -> None:
    trig = ct.triggers.TimeTrigger(time_gap=0.01, lattice_dispatch_id="d2")
    fire = trig._fire = Firings(2)
    observer = threading.Thread(target=trig.observe, daemon=True)
    observer.start()
    assert fire.reached.wait(DEADLINE_S)
    trig.stop()
    observer.join(DEADLINE_S)
    assert not observer.is_alive()  # observe returned: no firing comes after stop
    count = len(fire.ids)
    assert count >= 2 and trig.new_dispatch_ids == fire.ids


def test_a_custom_trigger_subclasses_base_trigger() -> None:
    class OnDemand(ct.triggers.BaseTrigger):
        def observe(self) -> None:
            self.trigger()

        def stop(self) -> None:
            pass

    trig = OnDemand(lattice_dispatch_id="d3")
    trig._fire = Firings(1)
    trig.observe()
    assert trig.new_dispatch_ids == ["d3-run0"]
    assert trig.to_dict()["name"] == "OnDemand"
    assert trig.to_dict()["lattice_dispatch_id"] == "d3"


def test_a_trigger_without_a_dispatch_refuses_to_fire() -> None:
    trig = ct.triggers.TimeTrigger(time_gap=1)
    with pytest.raises(RuntimeError, match="lattice_dispatch_id"):
        trig.trigger()


def test_dir_trigger_refuses_unknown_event_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose among"):
        ct.triggers.DirTrigger(str(tmp_path), event_names=["renamed"])


def test_a_trigger_travels_to_the_service_without_what_observes(tmp_path: Path) -> None:
    import cloudpickle

    trig = ct.triggers.TimeTrigger(time_gap=0.01, lattice_dispatch_id="d3")
    trig._fire = Firings(1)
    observer = threading.Thread(target=trig.observe, daemon=True)
    observer.start()
    assert trig._fire.reached.wait(DEADLINE_S)
    trig.stop()
    observer.join(DEADLINE_S)
    copy = cloudpickle.loads(cloudpickle.dumps(trig))  # its stop flag (a lock) stays here
    assert (copy.time_gap, copy.lattice_dispatch_id) == (0.01, "d3")
    assert copy._fire is None and copy.stop_flag is None
    watcher = ct.triggers.DirTrigger(str(tmp_path), "created")
    watcher.observe()
    try:
        copy = cloudpickle.loads(cloudpickle.dumps(watcher))
    finally:
        watcher.stop()
    copy.stop()  # never observed there: stopping is a no-op, not an error
    assert copy.dir_path == str(tmp_path.resolve())


def test_a_lattice_takes_one_trigger_or_a_list_and_pickles_without_them() -> None:
    import cloudpickle

    one = ct.triggers.TimeTrigger(time_gap=1)

    @ct.lattice(triggers=one)
    def workflow() -> int:
        return 1

    assert workflow.triggers == [one]
    assert cloudpickle.loads(cloudpickle.dumps(workflow)).triggers is None
    with pytest.raises(TypeError, match="BaseTrigger"):
        from covalent_ray.sdk.triggers import trigger_spec

        trigger_spec("every minute", "d4")  # type: ignore[arg-type]
