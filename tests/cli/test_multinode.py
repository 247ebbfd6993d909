"""covalent-ray on an existing two-node Ray cluster (both nodes on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from covalent_ray.service.control import free_port

HERE = Path(__file__).parent

pytestmark = pytest.mark.ray  # starts Ray clusters of its own


def _wait_file(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def test_electrons_spread_and_resources_pin_on_a_two_node_cluster(tmp_path, cli, script) -> None:
    token = tmp_path / "token"
    token.write_text(secrets.token_hex(32))
    temp_dir = Path(tempfile.mkdtemp(prefix="cr-mn-"))  # short: Ray's socket paths are long
    env = dict(
        os.environ,
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token),
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
    )
    port = free_port()
    head = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ray.scripts.scripts",
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--temp-dir={temp_dir}",
            "--include-dashboard=false",
            "--num-cpus=1",
            '--resources={"head_only": 1}',
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
        ],
        env=env,
        stdout=open(tmp_path / "head.log", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = None
    home = tmp_path / "home"
    try:
        _wait_file(temp_dir / "ray_current_cluster")
        worker = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "_worker_node.py"),
                f"127.0.0.1:{port}",
                str(temp_dir),
                json.dumps({"special": 1}),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )
        special_node = worker.stdout.readline().strip()
        assert special_node, "the second node did not start"

        # the cluster's token, as a user joining it would have it in their shell
        auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
        started = cli("start", "--address", f"127.0.0.1:{port}", home=home, env=auth)
        assert started.returncode == 0, started.stderr
        info = json.loads((home / "service.json").read_text())
        assert info["head_pid"] is None and info["auth_token_path"] == str(token)

        run = script(
            """
            import json, time
            import ray
            import covalent_ray as ct
            from covalent_ray.executors import RayExecutor

            @ct.electron
            def where(i):
                time.sleep(0.5)
                return ray.get_runtime_context().get_node_id()

            @ct.electron(executor=RayExecutor(resources={"special": 1}))
            def special(i):
                return ray.get_runtime_context().get_node_id()

            @ct.lattice
            def wf():
                return [where(i) for i in range(8)], [special(i) for i in range(3)]

            result = ct.dispatch_sync(wf)()
            default_nodes, special_nodes = result.result
            recorded = {n["node_id"]: (n["node_name"], n["ray_node_id"], n["worker_pid"])
                        for n in result.get_all_node_results() if n["kind"] == "electron"}
            print(json.dumps({"status": result.status.value, "default": default_nodes,
                              "special": special_nodes, "recorded": recorded,
                              "nodes": [n["NodeID"] for n in ray.nodes() if n["Alive"]]}))
        """,
            home=home,
        )
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout.strip().splitlines()[-1])
        assert out["status"] == "COMPLETED"
        assert len(out["nodes"]) == 2 and special_node in out["nodes"]
        assert len(set(out["default"])) == 2  # default electrons spread over both nodes
        assert set(out["special"]) == {special_node}  # resources pin RayExecutor electrons
        returned = iter(out["default"] + out["special"])
        for name, ray_node, pid in (out["recorded"][k] for k in sorted(out["recorded"], key=int)):
            assert ray_node == next(returned), name  # the database knows where each ran
            assert isinstance(pid, int) and pid > 0
        stopped = cli("stop", home=home)
        assert stopped.returncode == 0 and "keeps running" in stopped.stdout
        assert head.poll() is None  # covalent-ray did not stop a cluster it did not start
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
        head.send_signal(signal.SIGTERM)
        head.wait(120)
        shutil.rmtree(temp_dir, ignore_errors=True)
