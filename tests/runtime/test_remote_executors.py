"""Electrons on SSHExecutor through the service: stored results, failures, cancel,
timeouts, concurrency over one connection, and ``executor="ssh"`` from the config file."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import covalent_ray as ct
from covalent_ray import _config
from covalent_ray.executors import SSHExecutor
from servers import Sshd

pytestmark = pytest.mark.usefixtures("service")


def wait_for(path: Path, deadline: float = 120) -> None:
    end = time.monotonic() + deadline
    while not path.exists():
        assert time.monotonic() < end, f"{path} did not appear"
        time.sleep(0.05)


def pid_gone(pid: int, deadline: float = 30) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        stat = Path(f"/proc/{pid}/stat")
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True  # killed; its parent shell reaps it
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.05)
    return False


def test_ssh_electrons_store_output_stdout_stderr_and_errors(sshd: Sshd) -> None:
    ssh = SSHExecutor(**sshd.settings())

    @ct.electron(executor=ssh)
    def remote_square(x):
        import os
        import sys

        print("squaring", x)
        print("on stderr", file=sys.stderr)
        return x * x, os.environ["SSH_CONNECTION"].split()[2]

    @ct.electron(executor=ssh)
    def remote_fail(x):
        raise ValueError(f"bad value {x}")

    @ct.lattice
    def wf(x):
        return remote_square(x), remote_fail(x)

    result = ct.dispatch_sync(wf)(7)
    assert result.status == ct.status.FAILED
    square = next(n for n in result.get_all_node_results() if n["node_name"] == "remote_square")
    assert square["status"] == ct.status.COMPLETED
    assert square["output"].get_deserialized() == (49, "127.0.0.1")
    assert square["executor"] == "ssh"
    assert square["stdout"] == "squaring 7\n" and square["stderr"] == "on stderr\n"
    failed = next(n for n in result.get_all_node_results() if n["node_name"] == "remote_fail")
    assert failed["status"] == ct.status.FAILED
    assert "ValueError: bad value 7" in failed["error"]
    assert "covalent_ray_runner" in failed["error"]  # the remote traceback


def test_the_remote_host_and_job_handle_are_stored_and_shown(sshd: Sshd, service) -> None:
    import urllib.request

    @ct.electron(executor=SSHExecutor(**sshd.settings()))
    def where_am_i():
        import os

        return os.getpid()

    @ct.lattice
    def wf():
        return where_am_i()

    result = ct.dispatch_sync(wf)()
    assert result.status == ct.status.COMPLETED
    host = f"{sshd.username}@127.0.0.1:{sshd.port}"
    node = next(n for n in result.get_all_node_results() if n["node_name"] == "where_am_i")
    assert node["remote_host"] == host
    handle = json.loads(node["job_handle"])
    assert handle["host"] == host and handle["task_dir"]
    assert handle["pid"] > 0  # the remote runner, the electron's parent there
    rows = ct.sql(
        "SELECT remote_host, job_handle FROM electrons "
        f"WHERE dispatch_id = '{result.dispatch_id}' AND name = 'where_am_i'"
    )
    assert [(r["remote_host"], r["job_handle"]) for r in rows] == [(host, node["job_handle"])]
    base = service.api_url.rstrip("/")
    url = f"{base}/api/v1/dispatches/{result.dispatch_id}/electrons/{node['node_id']}"
    from covalent_ray.client.connect import api_headers

    request = urllib.request.Request(url, headers=api_headers())
    with urllib.request.urlopen(request, timeout=30) as answer:
        detail = json.loads(answer.read())
    assert detail["remote_host"] == host and detail["job_handle"] == node["job_handle"]


def test_twenty_concurrent_ssh_electrons_over_one_connection(sshd: Sshd, tmp_path) -> None:
    @ct.electron(executor=SSHExecutor(**sshd.settings(max_sessions=64)))
    def together(i, directory, n):
        import os
        import time

        open(os.path.join(directory, str(i)), "w").close()
        deadline = time.monotonic() + 120
        while len(os.listdir(directory)) < n:  # all of them run at once
            if time.monotonic() > deadline:
                raise TimeoutError("the electrons did not run concurrently")
            time.sleep(0.05)
        return os.environ["SSH_CONNECTION"]

    @ct.lattice
    def wf(directory):
        return [together(i, directory, 20) for i in range(20)]

    result = ct.dispatch_sync(wf)(str(tmp_path))
    errors = [n["error"] for n in result.get_all_node_results() if n["error"]]
    assert result.status == ct.status.COMPLETED, errors[:1]
    assert len(result.result) == 20 and len(set(result.result)) == 1


def test_cancel_and_timeout_kill_the_remote_process(sshd: Sshd, tmp_path) -> None:
    ssh = SSHExecutor(**sshd.settings())

    @ct.electron(executor=ssh)
    def stuck(path):
        import os
        import time

        open(path, "w").write(str(os.getpid()))
        time.sleep(300)

    @ct.lattice
    def wf(path):
        return stuck(path)

    pidfile = tmp_path / "cancelled"
    dispatch_id = ct.dispatch(wf)(str(pidfile))
    wait_for(pidfile)
    ct.cancel(dispatch_id)
    result = ct.get_result(dispatch_id, wait=True)
    assert result.status == ct.status.CANCELLED
    assert pid_gone(int(pidfile.read_text()))

    @ct.electron(executor=ssh, timeout=3)
    def too_slow(path):
        import os
        import time

        open(path, "w").write(str(os.getpid()))
        time.sleep(300)

    @ct.lattice
    def slow_wf(path):
        return too_slow(path)

    pidfile = tmp_path / "timed-out"
    result = ct.dispatch_sync(slow_wf)(str(pidfile))
    assert result.status == ct.status.FAILED
    assert "timeout" in result.get_node_result(0)["error"].lower()
    assert pid_gone(int(pidfile.read_text()))


def test_executor_name_ssh_takes_the_config_file_defaults(sshd: Sshd) -> None:
    settings = {f"executors.ssh.{k}": v for k, v in sshd.settings().items()}
    _config.set_config(settings)
    try:

        @ct.electron(executor="ssh")
        def where():
            import sys

            return sys.executable

        @ct.lattice
        def wf():
            return where()

        result = ct.dispatch_sync(wf)()
    finally:
        _config.set_config({k: None for k in settings})
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == str(sshd.python)
    assert result.get_node_result(0)["executor"] == "ssh"


def test_an_unreachable_host_fails_the_electron_naming_it(sshd: Sshd) -> None:
    from servers import free_port

    port = free_port()

    @ct.electron(executor=SSHExecutor(**sshd.settings(port=port, max_connection_attempts=1)))
    def nowhere():
        return 1

    @ct.lattice
    def wf():
        return nowhere()

    result = ct.dispatch_sync(wf)()
    assert result.status == ct.status.FAILED
    error = result.get_node_result(0)["error"]
    assert f"127.0.0.1:{port}" in error and "RemoteHostError" in error
    json.dumps(error)
    assert os.environ.get("COVALENT_RAY_HOME")


def _running_handle(dispatch_id: str, name: str, deadline: float = 120) -> dict:
    """The stored job handle of a running electron (waits for its RUNNING record)."""
    end = time.monotonic() + deadline
    while True:
        result = ct.get_result(dispatch_id, intermediate_outputs=False)
        node = next(n for n in result.get_all_node_results() if n["node_name"] == name)
        if node["job_handle"]:
            return json.loads(node["job_handle"])
        assert time.monotonic() < end, f"{name} recorded no job handle"
        time.sleep(0.05)


def _kill_dispatcher() -> None:
    import signal

    import ray

    from covalent_ray.client.connect import connect

    os.kill(ray.get(connect().dispatcher.pid.remote()), signal.SIGKILL)


def _adaptor_pids() -> list[int]:
    from covalent_ray.service import control

    status = control.status(Path(os.environ["COVALENT_RAY_HOME"]))
    return [a["pid"] for a in status["adaptors"]]


def test_after_losing_the_dispatcher_the_remote_job_is_found_again(sshd: Sshd, tmp_path) -> None:
    runs, gate = tmp_path / "runs", tmp_path / "gate"

    @ct.electron(executor=SSHExecutor(**sshd.settings()))
    def held(runs, gate):
        import os
        import time

        with open(runs, "a") as f:
            f.write("run\n")
        deadline = time.monotonic() + 300
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
        print("released")
        return "done once"

    @ct.lattice
    def wf(runs, gate):
        return held(runs, gate)

    dispatch_id = ct.dispatch(wf)(str(runs), str(gate))
    handle = _running_handle(dispatch_id, "held")
    # `covalent-ray status` lists the adaptor with its host and what it runs
    from covalent_ray.cli.service_cmds import adaptor_line
    from covalent_ray.service import control

    status = control.status(Path(os.environ["COVALENT_RAY_HOME"]))
    lines = [adaptor_line(a) for a in status["adaptors"]]
    assert f"ssh {sshd.username}@127.0.0.1:{sshd.port} (1 running)" in lines, lines
    _kill_dispatcher()  # its adaptors die with it; the remote process runs on
    gate.touch()
    result = ct.get_result(dispatch_id, wait=True, timeout=300)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == "done once"
    assert runs.read_text() == "run\n"  # waited for, not started again
    node = next(n for n in result.get_all_node_results() if n["node_name"] == "held")
    assert node["stdout"] == "released\n"
    assert json.loads(node["job_handle"]) == handle


def test_a_remote_job_gone_after_a_restart_fails_naming_host_and_handle(
    sshd: Sshd, tmp_path
) -> None:
    started = tmp_path / "started"

    @ct.electron(executor=SSHExecutor(**sshd.settings()))
    def forever(started):
        import time

        open(started, "w").close()
        time.sleep(600)

    @ct.lattice
    def wf(started):
        return forever(started)

    dispatch_id = ct.dispatch(wf)(str(started))
    wait_for(started)
    handle = _running_handle(dispatch_id, "forever")
    adaptors = _adaptor_pids()
    _kill_dispatcher()
    # the adaptor that watched the remote process dies with its dispatcher; once it is
    # gone, the remote process dies while nobody watches it
    assert all(pid_gone(pid, deadline=120) for pid in adaptors), adaptors
    os.killpg(handle["pid"], 9)
    assert pid_gone(handle["pid"])
    result = ct.get_result(dispatch_id, wait=True, timeout=300)
    assert result.status == ct.status.FAILED
    node = next(n for n in result.get_all_node_results() if n["node_name"] == "forever")
    assert node["status"] == ct.status.FAILED
    host = f"{sshd.username}@127.0.0.1:{sshd.port}"
    assert "the service restarted while it ran on " + host in node["error"]
    assert f"pid {handle['pid']}" in node["error"] and "job handle" in node["error"]


def test_after_losing_the_dispatcher_a_slurm_job_is_picked_up_by_its_id(
    sshd: Sshd, slurm, tmp_path
) -> None:
    from covalent_ray.executors import SlurmExecutor

    runs, gate = tmp_path / "runs", tmp_path / "gate"
    executor = SlurmExecutor(
        address="127.0.0.1",
        port=sshd.port,
        username=sshd.username,
        ssh_key_file=str(sshd.key_file),
        known_hosts=str(sshd.known_hosts),
        python_path=str(sshd.python),
        remote_workdir=str(slurm.directory / "work"),
        bashrc_path=str(slurm.bashrc),
        poll_freq=0.3,
    )

    @ct.electron(executor=executor)
    def held_job(runs, gate):
        import os
        import time

        with open(runs, "a") as f:
            f.write(os.environ["SLURM_JOB_ID"] + "\n")
        deadline = time.monotonic() + 300
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
        return "job done"

    @ct.lattice
    def wf(runs, gate):
        return held_job(runs, gate)

    dispatch_id = ct.dispatch(wf)(str(runs), str(gate))
    wait_for(runs)
    end = time.monotonic() + 120
    while True:  # the job ID is stored with the electron once it is submitted
        node = ct.get_result(dispatch_id, intermediate_outputs=False).get_node_result(0)
        if node["job_handle"]:
            break
        assert time.monotonic() < end, "no job ID was stored"
        time.sleep(0.05)
    job_id = node["job_handle"]
    assert node["remote_host"] == f"{sshd.username}@127.0.0.1:{sshd.port}"
    _kill_dispatcher()
    gate.touch()
    result = ct.get_result(dispatch_id, wait=True, timeout=300)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == "job done"
    assert runs.read_text().split() == [job_id]  # one job, picked up, not resubmitted
    assert result.get_node_result(0)["job_handle"] == job_id
