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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from covalent_ray.service.control import free_port

HERE = Path(__file__).parent

pytestmark = pytest.mark.ray  # starts Ray clusters of its own


def _wait_file(path: Path, timeout: float = 300, process: Any = None) -> bool:
    """Wait for ``path``; False if ``process`` exited first (a deadline, not a pace)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process is not None and process.poll() is not None:
            return False
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)
    return True


#: `ray start --head` gives up by itself when the machine is too busy for its GCS to answer
#: in time (seen at load averages of 30-60 on 2 cores): it is started again, on new ports
HEAD_ATTEMPTS = 3


@dataclass
class Cluster:
    """A two-node Ray cluster on 127.0.0.1 that the test started (not covalent-ray)."""

    address: str
    auth: dict[str, str]  # the cluster's token, as a user joining it has it in their shell
    head: subprocess.Popen[bytes]
    worker_node: str  # the second node's ID
    worker_raylet: int  # its raylet's PID


@contextmanager
def two_node_cluster(
    tmp_path: Path,
    worker_cpus: int = 1,
    before_second_node: Callable[[str, dict[str, str]], None] | None = None,
) -> Iterator[Cluster]:
    """A head (1 CPU, resource ``head_only``) and a second node (``worker_cpus`` CPUs,
    resource ``special``), stopped at the end with everything they started.
    ``before_second_node(address, auth)`` runs while the head is the only node: a
    process that joins then is attached to the head (both nodes are on 127.0.0.1, so
    one joining later could be attached to either, as it never is across machines)."""
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
    for attempt in range(1, HEAD_ATTEMPTS + 1):
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
            stdout=open(tmp_path / f"head-{attempt}.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if _wait_file(temp_dir / "ray_current_cluster", process=head):
            break
        log = (tmp_path / f"head-{attempt}.log").read_text(errors="replace")
        assert attempt < HEAD_ATTEMPTS, f"the Ray head did not start:\n{log[-3000:]}"
    worker = None
    try:
        auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
        if before_second_node is not None:
            before_second_node(f"127.0.0.1:{port}", auth)
        worker = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "_worker_node.py"),
                f"127.0.0.1:{port}",
                str(temp_dir),
                json.dumps({"special": 1}),
                str(worker_cpus),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )
        assert worker.stdout is not None
        started = worker.stdout.readline().split()
        assert len(started) == 2, "the second node did not start"
        yield Cluster(
            f"127.0.0.1:{port}",
            auth,
            head,
            started[0],
            int(started[1]),
        )
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
        head.send_signal(signal.SIGTERM)
        head.wait(120)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_electrons_spread_and_resources_pin_on_a_two_node_cluster(tmp_path, cli, script) -> None:
    home = tmp_path / "home"
    with two_node_cluster(tmp_path) as cluster:
        special_node = cluster.worker_node
        started = cli("start", "--address", cluster.address, home=home, env=cluster.auth)
        assert started.returncode == 0, started.stderr
        info = json.loads((home / "service.json").read_text())
        assert info["head_pid"] is None
        assert info["auth_token_path"] == cluster.auth["RAY_AUTH_TOKEN_PATH"]

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
        assert cluster.head.poll() is None  # covalent-ray did not stop a cluster it did not start


def test_losing_a_node_reruns_its_electrons_within_their_retries_or_fails_them(
    tmp_path, cli, script
) -> None:
    home = tmp_path / "home"
    started_dir, gate = tmp_path / "started", tmp_path / "gate"
    started_dir.mkdir()

    def start_service(address: str, auth: dict[str, str]) -> None:
        # on the head, as on a real cluster, where the service runs on its own machine
        up = cli("start", "--address", address, home=home, env=auth)
        assert up.returncode == 0, up.stderr

    with two_node_cluster(tmp_path, 2, start_service) as cluster:
        # three electrons hold a CPU each (the head has one, the second node two) until
        # the gate opens, so at least two of them run on the node that is lost
        submitted = script(
            f"""
            import covalent_ray as ct

            def held(name, started_dir, gate):
                import os, time
                import ray
                node = ray.get_runtime_context().get_node_id()
                attempt = len(os.listdir(started_dir))
                mark = f"{{name}}.{{node}}.{{attempt}}.{{os.getpid()}}"
                open(os.path.join(started_dir, mark), "w").close()
                deadline = time.monotonic() + 300
                while not os.path.exists(gate) and time.monotonic() < deadline:
                    time.sleep(0.05)
                return node

            again = ct.electron(held, retries=1)
            once = ct.electron(held, retries=0)

            @ct.lattice
            def wf(started_dir, gate):
                return [again("a", started_dir, gate), once("b", started_dir, gate),
                        again("c", started_dir, gate)]

            print(ct.dispatch(wf)({str(started_dir)!r}, {str(gate)!r}))
            """,
            home=home,
        )
        assert submitted.returncode == 0, submitted.stderr
        dispatch_id = submitted.stdout.strip().splitlines()[-1]
        deadline = time.monotonic() + 120
        while len(list(started_dir.iterdir())) < 3:
            assert time.monotonic() < deadline, list(started_dir.iterdir())
            time.sleep(0.1)
        first_run = {p.name.split(".")[0]: p.name.split(".")[1] for p in started_dir.iterdir()}
        lost = {name for name, node in first_run.items() if node == cluster.worker_node}
        assert len(lost) >= 2, first_run

        # the second node goes away as a machine does: its raylet and the workers running
        # electrons on it (a worker outlives its raylet while it runs user code)
        os.kill(cluster.worker_raylet, signal.SIGKILL)
        for p in started_dir.iterdir():
            if p.name.split(".")[0] in lost:
                os.kill(int(p.name.split(".")[3]), signal.SIGKILL)
        gate.touch()
        ended = script(
            f"""
            import json
            import covalent_ray as ct

            result = ct.get_result({dispatch_id!r}, wait=True, timeout=300)
            print(json.dumps({{
                "status": result.status.value,
                "electrons": [{{
                    "status": n["status"].value, "error": n["error"],
                    "ray_node_id": n["ray_node_id"],
                    "attempts": [[a["attempt"], a["status"], a["error"]]
                                 for a in n["attempts"]],
                }} for n in sorted(result.get_all_node_results(), key=lambda n: n["node_id"])
                   if n["kind"] == "electron"]
            }}))
            """,
            home=home,
            timeout=400,
        )
        assert ended.returncode == 0, ended.stderr
        out = json.loads(ended.stdout.strip().splitlines()[-1])
        electrons = dict(zip("abc", out["electrons"]))  # in the order the lattice made them
        # the dispatch ended and nothing stays RUNNING
        assert {n["status"] for n in electrons.values()} <= {"COMPLETED", "FAILED"}, out
        assert out["status"] == ("FAILED" if "b" in lost else "COMPLETED"), (lost, out)
        for name, n in electrons.items():
            if name not in lost:  # ran on the head: once
                assert n["status"] == "COMPLETED" and len(n["attempts"]) == 1, (name, n)
            elif name == "b":  # no retries: failed, naming the electron and the lost node
                assert n["status"] == "FAILED", n
                assert "electron 'held'" in n["error"], n["error"]
                assert cluster.worker_node in n["error"], n["error"]
            else:  # ran again on the head, once, within its retries
                assert n["status"] == "COMPLETED" and n["ray_node_id"] != cluster.worker_node
                (one, failed, why), (two, done, _) = n["attempts"]
                assert (one, failed, two, done) == (1, "FAILED", 2, "COMPLETED"), n
                assert cluster.worker_node in why, why
        # nothing ran more often than asked: one start per attempt on record
        starts = [p.name.split(".")[0] for p in started_dir.iterdir()]
        assert starts.count("b") == 1
        assert starts.count("a") == (2 if "a" in lost else 1)
        assert starts.count("c") == (2 if "c" in lost else 1)
        assert cli("stop", home=home).returncode == 0
