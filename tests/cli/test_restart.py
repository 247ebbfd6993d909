"""`covalent-ray stop` then `start` while a dispatch runs: it resumes from stored outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray  # starts Ray clusters of its own


def test_restart_resumes_interrupted_dispatch(tmp_path: Path, cli, script) -> None:
    home = tmp_path / "home"
    counters = tmp_path / "counters"
    counters.mkdir()
    assert cli("start", "--num-cpus", "2", home=home).returncode == 0
    try:
        started = script(
            f"""
            import time
            from pathlib import Path
            import covalent_ray as ct

            @ct.electron
            def step(x, name):
                counter = Path({str(counters)!r}) / name
                counter.write_text(str(int(counter.read_text()) + 1 if counter.exists() else 1))
                time.sleep(3.0)
                return x + 1

            @ct.lattice
            def chain(n):
                x = 0
                for i in range(n):
                    x = step(x, f"step{{i}}")
                return x

            dispatch_id = ct.dispatch(chain)(4)
            # wait until the first two electrons (nodes 0 and 3) have completed
            while True:
                result = ct.get_result(dispatch_id, intermediate_outputs=False)
                if all(result.get_node_result(n)["status"] == "COMPLETED" for n in (0, 3)):
                    break
                time.sleep(0.05)
            print(dispatch_id)
        """,
            home=home,
        )
        assert started.returncode == 0, started.stderr
        dispatch_id = started.stdout.split()[-1]
        assert cli("stop", home=home).returncode == 0
        restarted = cli("start", "--num-cpus", "2", home=home)
        assert restarted.returncode == 0, restarted.stderr
        finished = script(
            f"""
            import covalent_ray as ct
            result = ct.get_result({dispatch_id!r}, wait=True, timeout=120)
            print(result.status, result.result)
        """,
            home=home,
        )
        assert finished.returncode == 0, finished.stderr
        assert finished.stdout.split()[-2:] == ["COMPLETED", "4"]
        # electrons seen completed before the stop ran once; of the two later ones, the
        # one running at the stop ran again, so there were five runs in all
        runs = {f"step{i}": int((counters / f"step{i}").read_text()) for i in range(4)}
        assert runs["step0"] == runs["step1"] == 1
        assert sum(runs.values()) == 5, runs
    finally:
        cli("stop", home=home)


def test_a_trigger_survives_stop_and_start(tmp_path: Path, cli, script) -> None:
    home = tmp_path / "home"
    watched = tmp_path / "inbox"
    watched.mkdir()
    assert cli("start", "--num-cpus", "2", home=home).returncode == 0
    try:
        registered = script(
            f"""
            from pathlib import Path
            import covalent_ray as ct

            @ct.electron
            def count(folder):
                return len(list(Path(folder).iterdir()))

            @ct.lattice(triggers=ct.triggers.DirTrigger({str(watched)!r}, "created"))
            def on_new_file(folder):
                return count(folder)

            print(ct.dispatch(on_new_file)({str(watched)!r}))
        """,
            home=home,
        )
        assert registered.returncode == 0, registered.stderr
        dispatch_id = registered.stdout.split()[-1]
        assert cli("stop", home=home).returncode == 0
        restarted = cli("start", "--num-cpus", "2", home=home)
        assert restarted.returncode == 0, restarted.stderr
        status = cli("status", "--json", home=home)
        assert status.returncode == 0, status.stderr
        [listed] = json.loads(status.stdout)["triggers"]
        assert (listed["dispatch_id"], listed["kind"]) == (dispatch_id, "DirTrigger")
        # the restarted service observes again: a new file starts the registered dispatch
        (watched / "after-restart.txt").write_text("1")
        finished = script(
            f"""
            import covalent_ray as ct
            result = ct.get_result({dispatch_id!r}, wait=True, timeout=120)
            print(result.status, result.result)
            print(len(ct.stop_triggers({dispatch_id!r})))
        """,
            home=home,
        )
        assert finished.returncode == 0, finished.stderr
        assert finished.stdout.split()[-3:] == ["COMPLETED", "1", "1"]
    finally:
        cli("stop", home=home)
