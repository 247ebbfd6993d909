"""Clients never hang: a stale or stopping service is reported at once."""

from __future__ import annotations

from pathlib import Path


def test_a_stopping_or_stale_service_is_reported_at_once(tmp_path: Path, script) -> None:
    """No Ray connection is even tried: the record says the service is going away, or
    the processes it names are gone."""
    import json
    import socket

    home = tmp_path / "home"
    home.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    cases = {
        "stopping": {"address": f"127.0.0.1:{port}", "ready": False},
        "service process gone": {
            "address": f"127.0.0.1:{port}",
            "ready": True,
            "service_pid": 2**22 + 1,  # above the default pid_max: never a live process
        },
        "cluster refuses": {"address": f"127.0.0.1:{port}", "ready": True},
    }
    for case, record in cases.items():
        (home / "service.json").write_text(json.dumps(record))
        run = script(
            """
            import covalent_ray as ct
            from covalent_ray._exceptions import ServiceNotRunningError

            @ct.lattice
            def flow(x):
                return x

            try:
                ct.dispatch(flow)(1)
            except ServiceNotRunningError as exc:
                print("refused:", exc)
            """,
            home=home,
            timeout=120,
        )
        assert run.returncode == 0, (case, run.stderr[-2000:])
        assert "refused:" in run.stdout and "not running" in run.stdout, (case, run.stdout)
