"""Shared fixtures.

One covalent-ray service (its own Ray head on free ports, its own home, database and
auth token) is started per test session, on first use, and stopped at the end. Tests
that need a service of their own (start/stop lifecycle) start one more. Every service a
test starts serves its HTTP API on a free port (port 0), never on the default 48008
that a developer's own service may hold.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# inherited by the `covalent-ray start` subprocesses of the CLI tests too
os.environ["COVALENT_RAY_API_PORT"] = "0"


@pytest.fixture(scope="session")
def service_home() -> Iterator[Path]:
    """Home directory of the session's service."""
    home = Path(tempfile.mkdtemp(prefix="covalent-ray-test-home-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def service(service_home: Path) -> Iterator[object]:
    """A running covalent-ray service for the whole session; the SDK is pointed at it."""
    from covalent_ray.api.options import ApiOptions
    from covalent_ray.runtime import service as svc

    info, already = svc.start(service_home, head=svc.HeadOptions(num_cpus=2),
                              api=ApiOptions(port=0))
    assert not already
    previous = os.environ.get("COVALENT_RAY_HOME")
    os.environ["COVALENT_RAY_HOME"] = str(service_home)
    try:
        yield info
    finally:
        if previous is None:
            os.environ.pop("COVALENT_RAY_HOME", None)
        else:
            os.environ["COVALENT_RAY_HOME"] = previous
        svc.stop(service_home)
