"""Helpers for tests that drive a service of their own through subprocesses.

A process joins one Ray cluster at a time and the test process is joined to the
session's, so everything that talks to a second service runs in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

Runner = Callable[..., subprocess.CompletedProcess[str]]


# The test process joined the session's cluster, which set these in its environment;
# a service of its own must not inherit the session's token.
_OURS = {"COVALENT_RAY_HOME", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"}


def _env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _OURS}
    env["COVALENT_RAY_HOME"] = str(home)
    env.update(extra or {})
    return env


@pytest.fixture
def cli() -> Runner:
    """Run ``covalent-ray <args> --home HOME`` and return the completed process."""

    def run(
        *args: str, home: Path, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "covalent_ray.cli.main", *args, "--home", str(home)],
            capture_output=True,
            text=True,
            env=_env(home, env),
            timeout=timeout,
        )

    return run


@pytest.fixture
def script(tmp_path: Path) -> Runner:
    """Run a Python snippet against the service of ``home``."""

    def run(
        code: str, *, home: Path, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        path = tmp_path / f"snippet_{abs(hash(code))}.py"
        path.write_text(textwrap.dedent(code))
        return subprocess.run(
            [sys.executable, str(path)],
            capture_output=True,
            text=True,
            env=_env(home, env),
            timeout=timeout,
        )

    return run
