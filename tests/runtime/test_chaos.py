"""Clients dispatching while the service's actors are killed: every call has one outcome.

The small run of ``benchmarks/chaos.py``: two client processes dispatch five lattices
each while the dispatcher and then the result manager are killed (SIGKILL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHAOS = Path(__file__).resolve().parents[2] / "benchmarks" / "chaos.py"


def test_every_dispatch_has_one_outcome_through_actor_kills(service_home: Path, service) -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(CHAOS),
            "--clients=2",
            "--dispatches=5",
            "--dispatcher-kills=1",
            "--rm-kills=1",
            "--stop-start=0",
            f"--home={service_home}",
            "--settle-timeout=600",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        env=dict(os.environ, COVALENT_RAY_HOME=str(service_home)),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(summary["faults"]) == 2 and all("killed" in f for f in summary["faults"]), summary
    assert summary["calls"] == 10
    assert summary["raised"] == 0, summary["errors"]
    assert summary["returned_id"] == 10
    assert summary["dispatches_created"] == 10  # none created twice, none without an ID
    assert summary["created_without_id"] == 0
    assert summary["completed_correctly"] == 10, json.dumps(summary)
    assert summary["stuck"] == 0
    assert summary["electrons_completed_more_than_once"] == 0
