"""Concurrent clients and back-to-back bursts (small sizes of benchmarks/concurrent_load.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "concurrent_load.py"


@pytest.mark.usefixtures("service")
def test_concurrent_clients_all_reach_their_final_state() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--clients",
            "3",
            "--per-client",
            "6",
            "--burst",
            "5",
            "--burst-width",
            "40",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )
    assert done.stdout, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["dispatches"] == 18
    assert report["wrong"] == []  # every status and result as the client expected
    assert report["db_disagrees"] == []  # the database says what the clients were told
    assert report["burst_wrong"] == []
    assert report["result_manager"]["commits"] > 0
    assert done.returncode == 0, done.stderr
