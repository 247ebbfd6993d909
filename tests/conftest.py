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

from servers import SSHD, Slurm, Sshd, start_slurm, start_sshd, stop

# inherited by the `covalent-ray start` subprocesses of the CLI tests too
os.environ["COVALENT_RAY_API_PORT"] = "0"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh covalent-ray home of this test (config file, workdir); no executor directory
    configured, and executor plugins searched anew."""
    from covalent_ray.executors import registry

    home = tmp_path / "home"
    monkeypatch.setenv("COVALENT_RAY_HOME", str(home))
    monkeypatch.delenv("COVALENT_RAY_EXECUTOR_DIR", raising=False)
    registry.refresh()
    yield home
    registry.refresh()


@pytest.fixture(scope="session")
def service_home() -> Iterator[Path]:
    """Home directory of the session's service."""
    home = Path(tempfile.mkdtemp(prefix="covalent-ray-test-home-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def service(service_home: Path) -> Iterator[object]:
    """A running covalent-ray service for the whole session; the SDK is pointed at it."""
    from covalent_ray.service import control as svc
    from covalent_ray.service.options import ApiOptions

    info, already = svc.start(
        service_home, head=svc.HeadOptions(num_cpus=2), api=ApiOptions(port=0)
    )
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


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """Debian's sshd on 127.0.0.1 and a free port, for the whole session (see ``servers``)."""
    if not Path(SSHD).exists():
        pytest.fail(f"{SSHD} is missing: `make setup-test` installs Debian's openssh-server")
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        stop(server.proc)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slurm]:
    """A one-node Slurm (munged, slurmctld, slurmd) on 127.0.0.1 for the whole session."""
    import shutil as _shutil

    missing = [c for c in ("munged", "slurmctld", "slurmd", "sbatch") if not _shutil.which(c)]
    if missing:
        pytest.fail(f"{missing} missing: `make setup-test` installs Debian's slurm-wlm and munge")
    cluster = start_slurm(tmp_path_factory.mktemp("slurm"))
    try:
        yield cluster
    finally:
        for proc in reversed(cluster.procs):
            stop(proc)


@pytest.fixture(scope="session")
def api_token(service: object, service_home: Path) -> str:
    """The REST API token the session's service made at its start (its home's api_token)."""
    from covalent_ray.client.connect import api_token as read_token

    token = read_token(service_home)
    assert token, f"the session's service keeps no API token in {service_home}"
    return token


@pytest.fixture(scope="session")
def api_headers(api_token: str) -> dict[str, str]:
    """Headers that log a request in to the session's REST API."""
    return {"Authorization": f"Bearer {api_token}"}


@pytest.fixture(scope="session")
def login_url(service: object, service_home: Path) -> str:
    """The dashboard's login link (``.../#token=...``), as `covalent-ray start` prints it."""
    from covalent_ray.client.connect import login_url as link

    url = link(service_home)
    assert url and "#token=" in url, url
    return url


#: fixtures that start or need a Ray cluster: a test using any of them is marked ``ray``
RAY_FIXTURES = frozenset({"service", "service_home", "api_token", "api_headers", "login_url"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs Ray, so ``pytest -m "not ray"`` runs the rest in seconds."""
    for item in items:
        if RAY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ray)
