"""SSHExecutor against a real sshd started by the tests (``servers.start_sshd``).

The remote Python is a venv with cloudpickle and nothing else: every electron here also
proves that what we ship unpickles without covalent-ray or Ray on the far side.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from covalent_ray._exceptions import ExecutorError, RemoteHostError
from covalent_ray.executors import SSHExecutor, TaskCancelledError
from covalent_ray.executors.base import TaskControl
from covalent_ray.runtime.executor_calls import cancel_task, run_task
from covalent_ray.runtime.hooks import wrap_with_hooks
from covalent_ray.sdk.deps import DepsBash, DepsCall
from servers import Sshd, free_port


def meta(node_id: int = 1, name: str = "task") -> dict[str, Any]:
    return {"dispatch_id": "disp-ssh", "node_id": node_id, "node_name": name, "results_dir": ""}


def execute(executor: SSHExecutor, fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, TaskControl]:
    control = TaskControl()

    async def go() -> Any:
        try:
            return await run_task(executor, fn, list(args), kwargs, meta(), control)
        finally:
            await executor.teardown({})

    return asyncio.run(go()), control


def probe(x: int) -> dict[str, Any]:
    import importlib.util
    import os
    import sys

    print("to stdout", x)
    os.system("echo from-a-child 1>&2")  # another process writing to fd 2
    return {
        "double": 2 * x,
        "cwd": os.getcwd(),
        "python": sys.executable,
        "covalent_ray": importlib.util.find_spec("covalent_ray") is not None,
        "ray": importlib.util.find_spec("ray") is not None,
    }


def test_result_stdout_stderr_in_the_remote_python_without_covalent_ray(sshd: Sshd) -> None:
    executor = SSHExecutor(**sshd.settings(create_unique_workdir=True))
    out, control = execute(executor, probe, 21)
    assert out["double"] == 42
    assert out["python"] == str(sshd.python)
    assert not out["covalent_ray"] and not out["ray"]
    assert Path(out["cwd"]) == sshd.directory / "remote-work" / "disp-ssh" / "node_1"
    assert control.output() == ("to stdout 21\n", "from-a-child\n")
    handle = json.loads(control.job_handle)
    assert handle["host"] == f"{sshd.username}@127.0.0.1:{sshd.port}" and handle["pid"] > 0
    assert not Path(handle["task_dir"]).exists()  # do_cleanup


def fails() -> None:
    def inner() -> None:
        raise KeyError("the-missing-key")

    inner()


def test_exception_comes_back_with_its_remote_traceback(sshd: Sshd) -> None:
    executor = SSHExecutor(**sshd.settings())
    with pytest.raises(KeyError, match="the-missing-key") as info:
        execute(executor, fails)
    text = "".join(traceback.format_exception(info.value))
    assert "in inner" in text and "covalent_ray_runner" in text


def test_deps_and_hooks_travel_without_covalent_ray(sshd: Sshd, tmp_path: Path) -> None:
    marker = tmp_path / "before"

    def before(path: str) -> None:
        open(path, "w").write("ran")

    hooks = {
        "deps_bash": [DepsBash(["echo dep-ran"])],
        "call_before": [DepsCall(before, args=[str(marker)])],
    }
    hooked = wrap_with_hooks(probe, hooks, meta())
    out, control = execute(SSHExecutor(**sshd.settings()), hooked, 1)
    assert out["double"] == 2 and not out["covalent_ray"]
    assert marker.read_text() == "ran"  # the remote host is this machine
    assert "dep-ran" in control.output()[0]


def wait_for(path: Path, deadline: float = 60) -> None:
    import time

    end = time.monotonic() + deadline
    while not path.exists():
        if time.monotonic() > end:
            raise TimeoutError(path)
        time.sleep(0.05)


def sleeper(pidfile: str) -> None:
    import os
    import time

    open(pidfile, "w").write(str(os.getpid()))
    time.sleep(300)


def pid_gone(pid: int, deadline: float = 30) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").exists():
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":  # killed, waiting for its parent shell to reap it
                return True
        time.sleep(0.05)
    return False


def test_cancel_kills_the_remote_process(sshd: Sshd, tmp_path: Path) -> None:
    executor = SSHExecutor(**sshd.settings())
    pidfile = tmp_path / "pid"
    control = TaskControl(task_metadata=meta())

    async def go() -> None:
        running = asyncio.ensure_future(
            run_task(executor, sleeper, [str(pidfile)], {}, meta(), control)
        )
        while not pidfile.exists() or control.job_handle is None:
            assert not running.done(), running.result()
            await asyncio.sleep(0.05)
        assert await cancel_task(executor, control)
        with pytest.raises(TaskCancelledError):
            await running
        await executor.teardown({})

    asyncio.run(go())
    assert pid_gone(int(pidfile.read_text()))


def test_a_timeout_while_the_job_starts_still_kills_it(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timeout (or cancel) that lands after the launch was sent but before its pid came
    back must not leave the remote process running, unwatched."""
    from covalent_ray.executors import ssh as ssh_module

    original = ssh_module._line_starting

    async def pid_never_read(stream: Any, word: str) -> list[str]:
        if word == "PID":  # the job starts, but its pid line is not read in time
            await asyncio.sleep(3600)
        return await original(stream, word)

    monkeypatch.setattr(ssh_module, "_line_starting", pid_never_read)
    executor = SSHExecutor(**sshd.settings())
    pidfile = tmp_path / "pid"
    control = TaskControl(task_metadata=meta())

    async def go() -> None:
        running = asyncio.ensure_future(
            run_task(executor, sleeper, [str(pidfile)], {}, meta(), control)
        )
        while not pidfile.exists():  # the electron runs on the remote host
            assert not running.done(), running.result()
            await asyncio.sleep(0.05)
        control.cancel_requested = True  # what the adaptor does when the timeout strikes
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await executor.teardown({})

    asyncio.run(go())
    assert control.job_handle is None  # its pid was never learnt from the launch
    assert pid_gone(int(pidfile.read_text()))


def test_a_dropped_connection_is_reopened_and_the_job_found_again(
    sshd: Sshd, tmp_path: Path
) -> None:
    go_file = tmp_path / "go"
    started = tmp_path / "started"

    def waits(started: str, go: str) -> str:
        import os
        import time

        open(started, "w").write(str(os.getpid()))
        while not os.path.exists(go):
            time.sleep(0.05)
        return "finished after the reconnect"

    executor = SSHExecutor(**sshd.settings())
    control = TaskControl(task_metadata=meta())

    async def go() -> Any:
        running = asyncio.ensure_future(
            run_task(executor, waits, [str(started), str(go_file)], {}, meta(), control)
        )
        while not started.exists() or control.job_handle is None:
            assert not running.done(), running.result()
            await asyncio.sleep(0.05)
        for conn in list(executor.connection._conns):
            conn.abort()  # as if the network went away
        go_file.write_text("go")
        try:
            return await running
        finally:
            await executor.teardown({})

    assert asyncio.run(go()) == "finished after the reconnect"
    assert executor.connection.opened == 2


def test_unreachable_host_names_host_and_reason(sshd: Sshd) -> None:
    port = free_port()  # nothing listens there
    executor = SSHExecutor(
        **sshd.settings(port=port, max_connection_attempts=2, retry_wait_time=0.05)
    )
    with pytest.raises(RemoteHostError) as info:
        execute(executor, probe, 1)
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "after 2 attempt(s)" in message
    assert "refused" in message.lower()


def test_unknown_host_key_is_refused_with_how_to_trust_it(sshd: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    executor = SSHExecutor(**sshd.settings(known_hosts=str(empty)))
    with pytest.raises(RemoteHostError) as info:
        execute(executor, probe, 1)
    message = str(info.value)
    assert "not trusted" in message and f"ssh-keyscan -p {sshd.port} 127.0.0.1" in message


def test_ssh_config_names_host_port_user_key_and_known_hosts(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``~/.ssh/config`` is honoured: an alias gives host, port, user, key and the
    known-hosts file, and the host key is still checked against that file."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    config = home / ".ssh" / "config"
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")

    def write_config(known_hosts: Path) -> None:
        config.write_text(
            f"Host lab-box\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.username}\n"
            f"  IdentityFile {sshd.key_file}\n  UserKnownHostsFile {known_hosts}\n"
        )

    monkeypatch.setenv("HOME", str(home))
    settings = {
        "hostname": "lab-box",
        "python_path": str(sshd.python),
        "remote_cache": str(sshd.directory / "remote-cache"),
        "max_connection_attempts": 1,
    }
    write_config(sshd.known_hosts)
    out, _ = execute(SSHExecutor(**settings), probe, 5)
    assert out["double"] == 10 and out["python"] == str(sshd.python)
    write_config(empty)  # the alias's known-hosts file does not know the host
    with pytest.raises(RemoteHostError, match="not trusted"):
        execute(SSHExecutor(**settings), probe, 5)


def test_missing_key_file_names_the_setting(sshd: Sshd, tmp_path: Path) -> None:
    executor = SSHExecutor(**sshd.settings(ssh_key_file=str(tmp_path / "nope")))
    with pytest.raises(RemoteHostError, match="ssh_key_file"):
        execute(executor, probe, 1)


def test_a_remote_python_of_another_version_or_without_cloudpickle_is_named(
    sshd: Sshd, tmp_path: Path
) -> None:
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\necho 3.9\n")
    old.chmod(0o755)
    with pytest.raises(ExecutorError, match=r"is 3\.9, ours is 3\.\d+"):
        execute(SSHExecutor(**sshd.settings(python_path=str(old))), probe, 1)
    bare = tmp_path / "bare"
    bare.write_text('#!/bin/sh\nexec "$0.real" -S "$@"\n')  # a Python without site-packages
    bare.chmod(0o755)
    (tmp_path / "bare.real").symlink_to(sshd.python)
    with pytest.raises(ExecutorError, match="has no cloudpickle"):
        execute(SSHExecutor(**sshd.settings(python_path=str(bare))), probe, 1)


def test_twenty_concurrent_electrons_share_one_connection(sshd: Sshd, tmp_path: Path) -> None:
    def together(i: int, directory: str, n: int) -> tuple[int, str]:
        import os
        import time

        open(os.path.join(directory, str(i)), "w").close()
        deadline = time.monotonic() + 120
        while len(os.listdir(directory)) < n:  # every one of them is running at once
            if time.monotonic() > deadline:
                raise TimeoutError("not all electrons ran at once")
            time.sleep(0.05)
        return i, os.environ["SSH_CONNECTION"]

    executor = SSHExecutor(**sshd.settings(max_sessions=64))

    async def go() -> list[Any]:
        try:
            return await asyncio.gather(
                *(
                    run_task(executor, together, [i, str(tmp_path), 20], {}, meta(i))
                    for i in range(20)
                )
            )
        finally:
            await executor.teardown({})

    results = asyncio.run(go())
    assert sorted(i for i, _ in results) == list(range(20))
    assert len({conn for _, conn in results}) == 1  # one TCP connection (same client port)
    assert executor.connection.opened == 1


def test_more_electrons_than_sessions_open_another_connection(sshd: Sshd) -> None:
    executor = SSHExecutor(**sshd.settings(max_sessions=3))

    def conn_of(i: int) -> str:
        import os
        import time

        time.sleep(1)  # hold the session while the others start
        return os.environ["SSH_CONNECTION"]

    async def go() -> list[str]:
        try:
            return await asyncio.gather(
                *(run_task(executor, conn_of, [i], {}, meta(i)) for i in range(4))
            )
        finally:
            await executor.teardown({})

    results = asyncio.run(go())
    assert len(set(results)) == 2  # two electrons per connection (one slot kept free)
