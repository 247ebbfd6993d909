"""Electrons on SSHExecutor through the service: stored results, failures, cancel,
timeouts, concurrency over one connection, and ``executor="ssh"`` from the config file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
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

    @ct.electron(executor=ssh)
    def warm_up():
        return 1  # the adaptor has connected and checked the remote Python after this

    @ct.electron(executor=ssh, timeout=3)
    def too_slow(path, _after):
        import os
        import time

        open(path, "w").write(str(os.getpid()))
        time.sleep(300)

    @ct.lattice
    def slow_wf(path):
        return too_slow(path, warm_up())

    pidfile = tmp_path / "timed-out"
    result = ct.dispatch_sync(slow_wf)(str(pidfile))
    assert result.status == ct.status.FAILED
    node = next(n for n in result.get_all_node_results() if n["node_name"] == "too_slow")
    assert "timeout" in node["error"].lower()
    # the remote process is gone: killed by its pid, or (the timeout struck while it
    # started, on a loaded machine) stopped by the executor's marker before the electron ran
    assert no_runner_of(result.dispatch_id)
    if pidfile.exists():
        assert pid_gone(int(pidfile.read_text()))


def no_runner_of(dispatch_id: str, deadline: float = 60) -> bool:
    """Whether, within ``deadline`` seconds, no remote runner of the dispatch is left
    (the remote host is this machine: its processes are ours to see)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        alive = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if "covalent_ray_runner" in text and f"/{dispatch_id}-" in text and state != "Z":
                alive.append(text)
        if not alive:
            return True
        time.sleep(0.1)
    return False


def test_a_failed_attempt_is_retried_as_a_new_remote_job(sshd: Sshd, slurm, tmp_path) -> None:
    """``retries=`` on SSH and Slurm electrons: the failed attempt is kept, the next one
    is a new remote process (SSH) or a new batch job (Slurm) that completes."""
    from covalent_ray.executors import SlurmExecutor

    slurm_executor = SlurmExecutor(
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

    def flaky(counter):
        import os

        tries = len(open(counter).read().split()) + 1 if os.path.exists(counter) else 1
        with open(counter, "a") as f:
            f.write(os.environ.get("SLURM_JOB_ID", str(os.getpid())) + "\n")
        if tries == 1:
            raise RuntimeError("the first attempt fails")
        return tries

    ssh_flaky = ct.electron(flaky, executor=SSHExecutor(**sshd.settings()), retries=1)
    slurm_flaky = ct.electron(flaky, executor=slurm_executor, retries=1)

    @ct.lattice
    def wf(a, b):
        return ssh_flaky(a), slurm_flaky(b)

    counters = [tmp_path / "ssh", tmp_path / "slurm"]
    result = ct.dispatch_sync(wf)(*map(str, counters))
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == [2, 2]  # a tuple returned by the lattice arrives as a list
    by_executor = {n["executor"]: n for n in result.get_all_node_results()}
    for name, counter in zip(("ssh", "slurm"), counters, strict=True):
        node = by_executor[name]
        assert [a["status"] for a in node["attempts"]] == ["FAILED", "COMPLETED"], node
        assert "the first attempt fails" in node["attempts"][0]["error"]
        first, second = counter.read_text().split()
        assert first != second  # two processes, two jobs
        assert node["job_handle"] and second in node["job_handle"]


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


class _WhereCopied(ct.fs_strategies.FileTransferStrategy):
    """Copies a file and writes, next to the copy, which Python and SSH session did it."""

    def cp(self, from_file, to_file):  # type: ignore[no-untyped-def]
        source, target = str(from_file.filepath), str(to_file.filepath)

        def copy() -> None:
            import json
            import os
            import shutil
            import sys

            shutil.copyfile(source, target)
            with open(target + ".where", "w") as f:
                json.dump({"python": sys.executable, "ssh": os.environ.get("SSH_CONNECTION")}, f)

        return copy


def test_file_transfers_run_on_the_remote_host(sshd: Sshd, tmp_path) -> None:
    """`files=` of an SSH electron: both transfers run in the remote Python, in the
    electron's SSH session, before and after it."""
    (tmp_path / "input.txt").write_text("3 lines\nof\ninput\n")
    before = ct.fs.FileTransfer(
        str(tmp_path / "input.txt"), str(tmp_path / "copied-in.txt"), strategy=_WhereCopied()
    )
    after = ct.fs.FileTransfer(
        str(tmp_path / "written.txt"),
        str(tmp_path / "copied-out.txt"),
        order=ct.fs.Order.AFTER,
        strategy=_WhereCopied(),
    )

    @ct.electron(executor=SSHExecutor(**sshd.settings()), files=[before, after])
    def count(files=None):
        import os

        (_, copied_in), (written, _) = files
        with open(copied_in) as f:
            lines = len(f.read().splitlines())
        with open(written, "w") as f:
            f.write(f"{lines} lines counted")
        return lines, os.environ["SSH_CONNECTION"]

    @ct.lattice
    def wf():
        return count()

    result = ct.dispatch_sync(wf)()
    assert result.status == ct.status.COMPLETED, result.error
    lines, session = result.result
    assert lines == 3
    assert (tmp_path / "copied-out.txt").read_text() == "3 lines counted"
    for copy in ("copied-in.txt", "copied-out.txt"):
        where = json.loads((tmp_path / (copy + ".where")).read_text())
        assert where == {"python": str(sshd.python), "ssh": session}, copy


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


# ----- `covalent-ray stop` + `start` while remote jobs run: a service of the test's own

#: the test process joined the session's cluster; a service of its own needs none of this
_SESSION_ENV = {"COVALENT_RAY_HOME", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"}


def _own_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SESSION_ENV}
    env["COVALENT_RAY_HOME"] = str(home)
    return env


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``covalent-ray ARGS --home HOME`` in a subprocess."""
    command = [sys.executable, "-m", "covalent_ray.cli.main", *args, "--home", str(home)]
    return subprocess.run(command, capture_output=True, text=True, env=_own_env(home), timeout=300)


def _script(home: Path, code: str) -> subprocess.CompletedProcess[str]:
    """A Python snippet run against the service of ``home``; its last stdout line."""
    path = home.parent / f"snippet-{abs(hash(code))}.py"
    path.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        env=_own_env(home),
        timeout=600,
    )


def _slurm_state(slurm, job_id: str) -> str:  # type: ignore[no-untyped-def]
    line = slurm.command("scontrol", "show", "job", "-o", job_id)
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    return fields.get("JobState", "")


def test_stop_and_start_find_running_ssh_and_slurm_jobs_again(sshd: Sshd, slurm, tmp_path) -> None:
    """`covalent-ray stop` while two SSH electrons and two Slurm jobs run; one of each
    ends while the service is down, the others after `covalent-ray start`. Every one is
    found again by its stored handle (SSH: pid and task directory; Slurm: job ID), runs
    once, and its output and stdout are stored; nothing is left RUNNING."""
    home, runs = tmp_path / "home", tmp_path / "runs"
    runs.mkdir()
    down, up = tmp_path / "gate-down", tmp_path / "gate-up"
    slurm_settings = {
        "address": "127.0.0.1",
        "port": sshd.port,
        "username": sshd.username,
        "ssh_key_file": str(sshd.key_file),
        "known_hosts": str(sshd.known_hosts),
        "python_path": str(sshd.python),
        "remote_workdir": str(slurm.directory / "work"),
        "bashrc_path": str(slurm.bashrc),
        "poll_freq": 0.3,
    }
    names = ["ssh_down", "ssh_up", "slurm_down", "slurm_up"]
    started = _cli(home, "start", "--num-cpus", "2")
    assert started.returncode == 0, started.stderr
    try:
        dispatched = _script(
            home,
            f"""
            import json, time
            import covalent_ray as ct
            from covalent_ray.executors import SSHExecutor, SlurmExecutor

            ssh = SSHExecutor(**json.loads({json.dumps(sshd.settings())!r}))
            slurm = SlurmExecutor(**json.loads({json.dumps(slurm_settings)!r}))

            def hold(name, gate):
                import os, time
                with open(os.path.join({str(runs)!r}, name), "a") as f:
                    f.write(os.environ.get("SLURM_JOB_ID", str(os.getpid())) + "\\n")
                deadline = time.monotonic() + 600
                while not os.path.exists(gate) and time.monotonic() < deadline:
                    time.sleep(0.05)
                print("released", name)
                return name + " done once"

            @ct.electron(executor=ssh)
            def ssh_down(gate):
                return hold("ssh_down", gate)

            @ct.electron(executor=ssh)
            def ssh_up(gate):
                return hold("ssh_up", gate)

            @ct.electron(executor=slurm)
            def slurm_down(gate):
                return hold("slurm_down", gate)

            @ct.electron(executor=slurm)
            def slurm_up(gate):
                return hold("slurm_up", gate)

            @ct.lattice
            def wf(down, up):
                return [ssh_down(down), ssh_up(up), slurm_down(down), slurm_up(up)]

            dispatch_id = ct.dispatch(wf)({str(down)!r}, {str(up)!r})
            end = time.monotonic() + 300
            while True:  # every electron has started and its handle is stored
                result = ct.get_result(dispatch_id, intermediate_outputs=False)
                handles = {{n["node_name"]: n["job_handle"] for n in result.get_all_node_results()
                           if n["job_handle"]}}
                if len(handles) == 4:
                    break
                assert time.monotonic() < end, handles
                time.sleep(0.1)
            print(json.dumps({{"dispatch_id": dispatch_id, "handles": handles}}))
            """,
        )
        assert dispatched.returncode == 0, dispatched.stderr
        running = json.loads(dispatched.stdout.splitlines()[-1])
        dispatch_id, handles = running["dispatch_id"], running["handles"]
        for name in names:
            wait_for(runs / name)
        stopped = _cli(home, "stop")
        assert stopped.returncode == 0, stopped.stderr
        # the service is gone; the remote jobs run on
        ssh_jobs = {name: json.loads(handles[name]) for name in ("ssh_down", "ssh_up")}
        for job in ssh_jobs.values():
            os.kill(job["pid"], 0)
        for name in ("slurm_down", "slurm_up"):
            assert _slurm_state(slurm, handles[name]) == "RUNNING"
        down.touch()  # one of each ends while nobody watches
        assert pid_gone(ssh_jobs["ssh_down"]["pid"], deadline=120)
        end = time.monotonic() + 120
        while _slurm_state(slurm, handles["slurm_down"]) != "COMPLETED":
            assert time.monotonic() < end, "slurm_down did not complete"
            time.sleep(0.1)
        restarted = _cli(home, "start", "--num-cpus", "2")
        assert restarted.returncode == 0, restarted.stderr
        finished = _script(
            home,
            f"""
            import json, os, time
            from pathlib import Path
            import covalent_ray as ct
            from covalent_ray.service import control

            dispatch_id = {dispatch_id!r}
            ct.get_result(dispatch_id, intermediate_outputs=False)
            end = time.monotonic() + 300
            while True:  # the resumed electrons wait on their jobs: release them now
                adaptors = control.status(Path(os.environ["COVALENT_RAY_HOME"]))["adaptors"]
                waiting = {{a["short_name"] for a in adaptors if a["running"]}}
                if waiting == {{"ssh", "slurm"}}:
                    break
                assert time.monotonic() < end, adaptors
                time.sleep(0.1)
            Path({str(up)!r}).touch()
            result = ct.get_result(dispatch_id, wait=True, timeout=300)
            nodes = {{
                n["node_name"]: {{
                    "status": str(n["status"]),
                    "output": n["output"].get_deserialized() if n["output"] else None,
                    "stdout": n["stdout"],
                    "job_handle": n["job_handle"],
                    "error": n["error"],
                }}
                for n in result.get_all_node_results()
            }}
            rows = ct.sql(
                "SELECT name, status FROM electrons WHERE dispatch_id = ?", [dispatch_id]
            )
            print(json.dumps({{"status": str(result.status), "nodes": nodes,
                              "rows": [[r["name"], r["status"]] for r in rows]}}))
            """,
        )
        assert finished.returncode == 0, finished.stderr
        answer = json.loads(finished.stdout.splitlines()[-1])
    finally:
        for gate in (down, up):  # a failed test leaves no remote job waiting
            gate.touch()
        _cli(home, "stop")
    assert answer["status"] == "COMPLETED", answer
    for name in names:
        node = answer["nodes"][name]
        assert node["status"] == "COMPLETED", (name, node["error"])
        assert node["output"] == f"{name} done once"
        assert node["stdout"] == f"released {name}\n"
        assert node["job_handle"] == handles[name]  # the same job, found again
    # each ran once: the Slurm jobs were picked up by their IDs, not submitted again
    for name in ("slurm_down", "slurm_up"):
        assert (runs / name).read_text().split() == [handles[name]]
    for name in ("ssh_down", "ssh_up"):
        assert (runs / name).read_text().split() == [str(ssh_jobs[name]["pid"])]
    assert [row for row in answer["rows"] if row[1] == "RUNNING"] == []  # nothing left RUNNING
