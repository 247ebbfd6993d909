"""The example `make run` runs works as written against a running service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.usefixtures("service")
def test_quickstart_prints_result_and_dashboard_link() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "Status: COMPLETED" in lines
    assert "Result: {'sentence': 'Hello, World!', 'lengths': [6, 6]}" in lines
    dispatch_id = lines[0].split()[-1]
    assert lines[-1].startswith("Dashboard: http://127.0.0.1:")
    assert lines[-1].endswith(f"/#/dispatches/{dispatch_id}")
