"""`covalent-ray start/status/stop` on a service of its own (a second Ray head)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from covalent_ray.service.control import pid_alive

pytestmark = pytest.mark.ray  # starts Ray clusters of its own


def test_start_status_stop(tmp_path: Path, cli) -> None:
    home = tmp_path / "home"
    started = cli("start", "--num-cpus", "1", home=home)
    assert started.returncode == 0, started.stderr
    try:
        assert "covalent-ray started" in started.stdout
        info = json.loads((home / "service.json").read_text())
        assert info["address"].startswith("127.0.0.1:")
        assert info["auth_mode"] == "token"
        token = Path(info["auth_token_path"])
        assert token.parent == home and oct(token.stat().st_mode & 0o777) == "0o600"

        again = cli("start", home=home)
        assert again.returncode == 0 and "already running" in again.stdout

        status = cli("status", "--json", home=home)
        assert status.returncode == 0, status.stderr
        data = json.loads(status.stdout)
        assert data["running"] is True and data["dispatches"] == {}
        assert data["database"] == str(home / "results.duckdb")
        assert set(data["actors"]) == {"covalent_ray.dispatcher", "covalent_ray.result_manager"}

        restarted = cli("restart", "--num-cpus", "1", "--json", home=home)
        assert restarted.returncode == 0, restarted.stderr
        assert json.loads(restarted.stdout)["already_running"] is False
        for key in ("head_pid", "service_pid"):
            assert not pid_alive(info[key]), f"{key} {info[key]} survived the restart"
        info = json.loads((home / "service.json").read_text())
        assert cli("status", home=home).returncode == 0
    finally:
        stopped = cli("stop", home=home)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout
    assert not (home / "service.json").exists()
    for key in ("head_pid", "service_pid"):
        assert not pid_alive(info[key]), f"{key} {info[key]} still running after stop"
    after = cli("status", home=home)
    assert after.returncode == 1 and "not running" in after.stdout


def test_stop_without_service_says_so(tmp_path: Path, cli) -> None:
    out = cli("stop", home=tmp_path)
    assert out.returncode == 0 and "not running" in out.stdout


def test_sdk_without_service_says_to_start(tmp_path: Path) -> None:
    import covalent_ray as ct
    from covalent_ray._exceptions import ServiceNotRunningError

    @ct.lattice
    def wf():
        return 1

    with pytest.raises(ServiceNotRunningError, match="covalent-ray start"):
        ct.dispatch(wf, home=tmp_path)()
