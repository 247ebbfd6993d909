"""SlurmExecutor against a one-node Slurm started by the tests, reached over the test sshd.

The jobs run the remote Python of the sshd fixture (cloudpickle only); the executor
sources the fixture's env file (``bashrc_path``) before Slurm commands, which points them
at the generated ``slurm.conf``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from covalent_ray._exceptions import ExecutorError, TaskRuntimeError
from covalent_ray.executors import SlurmExecutor, TaskCancelledError
from covalent_ray.executors.base import TaskControl
from covalent_ray.runtime.executor_calls import cancel_task, run_task
from servers import Slurm, Sshd


def meta(node_id: int = 1, name: str = "task", dispatch_id: str = "disp-slurm") -> dict[str, Any]:
    return {"dispatch_id": dispatch_id, "node_id": node_id, "node_name": name, "results_dir": ""}


def executor(sshd: Sshd, slurm: Slurm, **extra: Any) -> SlurmExecutor:
    settings: dict[str, Any] = {
        "address": "127.0.0.1",
        "port": sshd.port,
        "username": sshd.username,
        "ssh_key_file": str(sshd.key_file),
        "known_hosts": str(sshd.known_hosts),
        "python_path": str(sshd.python),
        "remote_workdir": str(slurm.directory / "work"),
        "bashrc_path": str(slurm.bashrc),
        "poll_freq": 0.3,
        **extra,
    }
    return SlurmExecutor(**settings)


def execute(ex: SlurmExecutor, fn: Any, *args: Any, node_id: int = 1) -> tuple[Any, TaskControl]:
    control = TaskControl()

    async def go() -> Any:
        try:
            return await run_task(ex, fn, list(args), {}, meta(node_id), control)
        finally:
            await ex.teardown({})

    return asyncio.run(go()), control


def job_fields(slurm: Slurm, job_id: str) -> dict[str, str]:
    line = slurm.command("scontrol", "show", "job", "-o", job_id).strip()
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


def in_the_job(x: int) -> dict[str, Any]:
    import importlib.util
    import os
    import sys

    print("job stdout", x)
    print("job stderr", file=sys.stderr)
    return {
        "double": 2 * x,
        "job_id": os.environ.get("SLURM_JOB_ID"),
        "var": os.environ.get("COVALENT_TEST_VAR"),
        "pre": open("pre.txt").read().strip() if os.path.exists("pre.txt") else None,
        "covalent_ray": importlib.util.find_spec("covalent_ray") is not None,
    }


def test_a_job_returns_output_stdout_stderr_with_its_sbatch_options(
    sshd: Sshd, slurm: Slurm
) -> None:
    ex = executor(
        sshd,
        slurm,
        options={"job-name": "covalent-opts", "time": "00:07:00", "comment": "from-the-test"},
        variables={"COVALENT_TEST_VAR": "hello world"},
        prerun_commands=["echo prerun > pre.txt"],
        srun_options={"n": 1},
    )
    out, control = execute(ex, in_the_job, 21)
    assert ex.connection.opened == 1  # submit, every squeue poll, the result: one connection
    assert out["double"] == 42 and out["job_id"] == control.job_handle
    assert out["var"] == "hello world" and out["pre"] == "prerun"
    assert not out["covalent_ray"]
    assert control.output() == ("job stdout 21\n", "job stderr\n")
    fields = job_fields(slurm, control.job_handle)
    assert fields["JobName"] == "covalent-opts"
    assert fields["TimeLimit"] == "00:07:00"
    assert fields["Comment"] == "from-the-test"
    assert fields["JobState"] == "COMPLETED"


def raises() -> None:
    raise ArithmeticError("inside the batch job")


def test_an_exception_in_the_job_comes_back(sshd: Sshd, slurm: Slurm) -> None:
    with pytest.raises(ArithmeticError, match="inside the batch job"):
        execute(executor(sshd, slurm), raises)


def test_bad_options_fail_naming_them(sshd: Sshd, slurm: Slurm) -> None:
    with pytest.raises(ExecutorError, match="not an option name"):
        executor(sshd, slurm, options={"--time": "1"})
    with pytest.raises(ExecutorError, match="sbatch refused") as info:
        execute(executor(sshd, slurm, options={"partition": "no-such-partition"}), in_the_job, 1)
    assert "no-such-partition" in str(info.value)


def sleeps(pidfile: str) -> None:
    import os
    import time

    open(pidfile, "w").write(str(os.getpid()))
    time.sleep(600)


def test_a_job_past_its_time_limit_fails_with_slurms_reason(
    sshd: Sshd, slurm: Slurm, tmp_path: Path
) -> None:
    ex = executor(sshd, slurm, options={"time": "00:00:01"})  # Slurm's minimum: a minute
    with pytest.raises(TaskRuntimeError) as info:
        execute(ex, sleeps, str(tmp_path / "pid"))
    message = str(info.value)
    assert "ended TIMEOUT" in message and "time limit" in message


def wait_for(path: Path, running: asyncio.Future[Any]) -> Any:
    async def waiting() -> None:
        end = time.monotonic() + 120
        while not path.exists():
            assert not running.done(), running.result()
            assert time.monotonic() < end, f"{path} did not appear"
            await asyncio.sleep(0.05)

    return waiting()


def test_cancel_runs_scancel(sshd: Sshd, slurm: Slurm, tmp_path: Path) -> None:
    ex = executor(sshd, slurm)
    control = TaskControl(task_metadata=meta(5))
    pidfile = tmp_path / "pid"

    async def go() -> None:
        running = asyncio.ensure_future(run_task(ex, sleeps, [str(pidfile)], {}, meta(5), control))
        await wait_for(pidfile, running)
        assert await cancel_task(ex, control)
        with pytest.raises(TaskCancelledError):
            await running
        await ex.teardown({})

    asyncio.run(go())
    assert job_fields(slurm, control.job_handle)["JobState"] == "CANCELLED"


def test_a_timeout_while_sbatch_runs_still_cancels_the_job(
    sshd: Sshd, slurm: Slurm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timeout (or cancel) that lands while the submission is under way, before its job
    ID came back, must not leave the job running, unwatched."""
    ex = executor(sshd, slurm, cleanup=False)
    submit = ex._submit
    job: list[str] = []

    async def answer_never_read(*args: Any) -> str:
        job.append(await submit(*args))  # submitted; its answer is not read in time
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    monkeypatch.setattr(ex, "_submit", answer_never_read)
    control = TaskControl(task_metadata=meta(9))
    pidfile = tmp_path / "pid"

    async def go() -> None:
        running = asyncio.ensure_future(run_task(ex, sleeps, [str(pidfile)], {}, meta(9), control))
        await wait_for(pidfile, running)  # the job runs
        control.cancel_requested = True  # what the adaptor does when the timeout strikes
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await ex.teardown({})

    asyncio.run(go())
    assert control.job_handle is None  # its ID was never learnt from the submission
    end = time.monotonic() + 60
    while job_fields(slurm, job[0])["JobState"] != "CANCELLED":
        assert time.monotonic() < end, job_fields(slurm, job[0])
        time.sleep(0.1)


def test_a_running_job_is_picked_up_by_its_id_instead_of_resubmitted(
    sshd: Sshd, slurm: Slurm, tmp_path: Path
) -> None:
    started, go_file = tmp_path / "started", tmp_path / "go"

    def waits(started: str, go: str) -> str:
        import os
        import time

        open(started, "w").write(os.environ["SLURM_JOB_ID"])
        while not os.path.exists(go):
            time.sleep(0.05)
        return "done"

    first, second = executor(sshd, slurm, cleanup=False), executor(sshd, slurm, cleanup=False)
    c1, c2 = TaskControl(task_metadata=meta(7)), TaskControl(task_metadata=meta(7))

    async def go() -> tuple[Any, Any]:
        one = asyncio.ensure_future(
            run_task(first, waits, [str(started), str(go_file)], {}, meta(7), c1)
        )
        await wait_for(started, one)
        # the same electron again, as after a service restart: its job is still running
        two = asyncio.ensure_future(
            run_task(second, waits, [str(started), str(go_file)], {}, meta(7), c2)
        )
        while c2.job_handle is None:
            assert not two.done(), two.result()
            await asyncio.sleep(0.05)
        go_file.write_text("go")
        try:
            return await one, await two
        finally:
            await first.teardown({})
            await second.teardown({})

    assert asyncio.run(go()) == ("done", "done")
    assert c1.job_handle == c2.job_handle == started.read_text()


def test_a_retry_submits_a_new_job_while_the_one_given_up_on_still_ends(
    sshd: Sshd, slurm: Slurm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next attempt of an electron (a retry after a timeout) on the same adaptor is a
    new job, even while the job given up on is still in the queue (COMPLETING after its
    scancel): it never waits for that job instead."""
    ex = executor(sshd, slurm)
    given_up: list[str] = []

    async def still_ending(job_id: str) -> bool:
        given_up.append(job_id)  # scancel sent; the job has not left the queue yet
        return True

    monkeypatch.setattr(ex, "_scancel", still_ending)
    pidfile = tmp_path / "pid"
    c1, c2 = TaskControl(task_metadata=meta(11)), TaskControl(task_metadata=meta(11))

    async def go() -> Any:
        first = asyncio.ensure_future(run_task(ex, sleeps, [str(pidfile)], {}, meta(11), c1))
        await wait_for(pidfile, first)
        c1.cancel_requested = True  # the timeout strikes
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        retry = run_task(ex, in_the_job, [4], {}, meta(11), c2)
        try:
            return await asyncio.wait_for(retry, 120)
        finally:
            await ex.teardown({})

    try:
        out = asyncio.run(go())
    finally:
        for job_id in given_up:
            slurm.command("scancel", job_id)
    assert given_up == [c1.job_handle]
    assert out["double"] == 8 and out["job_id"] == c2.job_handle != c1.job_handle


def test_executor_name_slurm_takes_the_config_file_table(sshd: Sshd, slurm: Slurm) -> None:
    """``executor="slurm"`` is built from config ``[executors.slurm]`` (same keys)."""
    from covalent_ray import _config
    from covalent_ray.executors import registry

    settings = {
        "address": "127.0.0.1",
        "port": sshd.port,
        "username": sshd.username,
        "ssh_key_file": str(sshd.key_file),
        "known_hosts": str(sshd.known_hosts),
        "python_path": str(sshd.python),
        "remote_workdir": str(slurm.directory / "work"),
        "bashrc_path": str(slurm.bashrc),
        "poll_freq": 0.3,
        "options": {"comment": "from-the-config"},
        "variables": {"COVALENT_TEST_VAR": "configured"},
    }
    _config.set_config({f"executors.slurm.{k}": v for k, v in settings.items()})
    ex = registry.resolve("slurm")
    assert isinstance(ex, SlurmExecutor)
    out, control = execute(ex, in_the_job, 3, node_id=12)
    assert out["double"] == 6 and out["var"] == "configured"
    assert job_fields(slurm, control.job_handle)["Comment"] == "from-the-config"


def submitted_from() -> tuple[str | None, str | None, str]:
    import os

    return os.environ.get("COVALENT_TEST_SUBMITTER"), os.environ.get("SLURM_JOB_ID"), os.getcwd()


def test_without_an_address_jobs_are_submitted_on_this_machine(
    sshd: Sshd, slurm: Slurm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``address``: sbatch, squeue and scancel run here, without SSH (the job inherits
    this process's environment, as sbatch exports the submitter's); a relative
    ``remote_workdir`` is under the home directory, as over SSH."""
    monkeypatch.setenv("COVALENT_TEST_SUBMITTER", "this process")
    monkeypatch.setenv("HOME", str(tmp_path))
    ex = SlurmExecutor(
        python_path=str(sshd.python),
        remote_workdir="slurm-work",
        bashrc_path=str(slurm.bashrc),
        poll_freq=0.3,
    )
    assert ex.remote_host() == "localhost"
    (submitter, job_id, cwd), control = execute(ex, submitted_from, node_id=13)
    assert submitter == "this process" and job_id == control.job_handle
    assert Path(cwd) == tmp_path / "slurm-work"
    assert job_fields(slurm, job_id)["JobState"] == "COMPLETED"
