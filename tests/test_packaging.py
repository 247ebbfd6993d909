"""The package a user installs with pip carries the built dashboard (no Node.js needed)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_dashboard(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(tmp_path.glob("covalent_ray-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in (ROOT / "ui").rglob("*"):
        if source.is_file():
            assert f"covalent_ray/ui/{source.relative_to(ROOT / 'ui')}" in names
    assert "covalent_ray/ui/vendor/cytoscape/cytoscape.min.js" in names
    assert "covalent_ray/py.typed" in names
