"""Fixtures for the executor tests: every test gets its own home (config file, workdir)."""

from __future__ import annotations

from pathlib import Path

import pytest

from covalent_ray.executors import registry

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture(autouse=True)
def _own_home(home: Path) -> Path:
    """Every executor test runs in its own home (see the ``home`` fixture)."""
    return home


@pytest.fixture
def plugin_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example Covalent-style plugins of ``tests/executors/plugins`` as the executor dir."""
    monkeypatch.setenv("COVALENT_RAY_EXECUTOR_DIR", str(PLUGINS))
    registry.refresh()
    return PLUGINS
