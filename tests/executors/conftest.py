"""Fixtures for the executor tests: every test gets its own home (config file, workdir)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from covalent_ray.executors import registry

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh covalent-ray home; no executor directory configured; plugins searched anew."""
    home = tmp_path / "home"
    monkeypatch.setenv("COVALENT_RAY_HOME", str(home))
    monkeypatch.delenv("COVALENT_RAY_EXECUTOR_DIR", raising=False)
    registry.refresh()
    yield home
    registry.refresh()


@pytest.fixture
def plugin_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example Covalent-style plugins of ``tests/executors/plugins`` as the executor dir."""
    monkeypatch.setenv("COVALENT_RAY_EXECUTOR_DIR", str(PLUGINS))
    registry.refresh()
    return PLUGINS
