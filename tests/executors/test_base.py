"""The executor contract: Covalent-style plugins, per-task control, cancel, setup/teardown."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import covalent_ray as ct
from covalent_ray.executors import TaskCancelledError, TaskRuntimeError, registry
from covalent_ray.executors.base import (
    AsyncBaseExecutor,
    BaseExecutor,
    TaskControl,
    config_key,
    current_control,
    short_name_of,
)
from covalent_ray.runtime.executor_calls import (
    call_executor,
    cancel_task,
    cancel_task_sync,
    run_task,
    run_task_sync,
)


def meta(node_id: int = 0, dispatch_id: str = "d1") -> dict[str, Any]:
    return {
        "dispatch_id": dispatch_id,
        "node_id": node_id,
        "node_name": f"n{node_id}",
        "results_dir": "",
    }


def add(a: int, b: int) -> int:
    return a + b


def test_covalent_plugin_ports_by_changing_imports(plugin_dir: Path, home: Path) -> None:
    # plugins/timing.py is written as for Covalent; it is found by name in the executor
    # dir, built with its _EXECUTOR_PLUGIN_DEFAULTS overridden by the config file.
    timings = home / "t.txt"
    ct.set_config("executors.timing.timing_filepath", str(timings))
    executor = registry.resolve("timing")
    assert type(executor).__name__ == "TimingExecutor"
    assert executor.short_name == "timing" and executor.short_name() == "timing"
    assert run_task_sync(executor, add, [2, 3], {}, meta(7)) == 5
    assert asyncio.run(run_task(executor, add, [1, 1], {}, meta(8))) == 2
    lines = timings.read_text().splitlines()
    assert [line.split()[:2] for line in lines] == [["d1", "7"], ["d1", "8"]]
    assert all(float(line.split()[2]) >= 0 for line in lines)


def test_plugin_failure_is_task_runtime_error(plugin_dir: Path) -> None:
    executor = registry.resolve("timing")

    def boom() -> None:
        raise ValueError("nope")

    with pytest.raises(TaskRuntimeError, match="timing task failed: nope"):
        run_task_sync(executor, boom, [], {}, meta())
    # Covalent users import these names from ct.executor too.
    assert ct.executor.TaskRuntimeError is TaskRuntimeError
    assert ct.executor.BaseExecutor is BaseExecutor


def test_async_plugin_setup_run_teardown(plugin_dir: Path) -> None:
    executor = registry.resolve("polling")
    assert executor.poll_freq == 0.01  # the plugin's _EXECUTOR_PLUGIN_DEFAULTS

    async def lifecycle() -> list[int]:
        await call_executor(executor, "setup", meta())
        outputs = await asyncio.gather(
            *(run_task(executor, add, [i, i], {}, meta(i)) for i in range(5))
        )
        await call_executor(executor, "teardown", meta())
        return list(outputs)

    assert asyncio.run(lifecycle()) == [0, 2, 4, 6, 8]
    assert (executor.setups, executor.teardowns) == (1, 1)


def test_async_plugin_cancel_through_its_job_handle(plugin_dir: Path) -> None:
    executor = registry.resolve("polling")
    release = threading.Event()

    def slow() -> str:
        release.wait(10)
        return "finished"

    async def scenario() -> tuple[bool, TaskControl, TaskControl, Any]:
        victim, other = TaskControl(meta(1)), TaskControl(meta(2))
        run_victim = asyncio.create_task(run_task(executor, slow, [], {}, meta(1), victim))
        run_other = asyncio.create_task(run_task(executor, add, [1, 2], {}, meta(2), other))
        deadline = time.monotonic() + 60
        while victim.job_handle is None:
            assert time.monotonic() < deadline, "the task never set its handle"
            await asyncio.sleep(0.005)
        cancelled = await cancel_task(executor, victim)
        with pytest.raises(TaskCancelledError):
            await run_victim
        release.set()
        return cancelled, victim, other, await run_other

    cancelled, victim, other, other_value = asyncio.run(scenario())
    assert cancelled is True
    assert victim.job_handle == "d1:1" and other.job_handle == "d1:2"
    assert other_value == 3  # cancelling one electron leaves the other alone
    assert other.output() == ("job d1:2 done\n", "")
    assert victim.output() == ("", "")


class Recorder(BaseExecutor):
    """Sets a handle per task, waits until every task has set its own, then reports what
    its control holds."""

    all_set = threading.Barrier(1)  # tests of concurrency give one for all their tasks

    def run(
        self, function: Any, args: list[Any], kwargs: dict[str, Any], task_metadata: dict[str, Any]
    ) -> Any:
        self.set_job_handle(f"job-{task_metadata['node_id']}")
        print(f"out {task_metadata['node_id']}", file=self.task_stdout)
        self.all_set.wait()  # the other tasks set their handles meanwhile
        control = current_control.get()
        assert control is not None
        return control.job_handle, self.get_cancel_requested()


def test_concurrent_tasks_keep_their_own_control() -> None:
    executor = Recorder()
    executor.all_set = threading.Barrier(6, timeout=60)
    controls = [TaskControl(meta(i)) for i in range(6)]
    controls[3].cancel_requested = True

    async def many() -> list[Any]:
        with ThreadPoolExecutor(8) as pool:
            return await asyncio.gather(
                *(
                    run_task(executor, add, [], {}, meta(i), controls[i], pool=pool)
                    for i in range(6)
                )
            )

    results = asyncio.run(many())
    assert results == [(f"job-{i}", i == 3) for i in range(6)]
    assert [c.output()[0] for c in controls] == [f"out {i}\n" for i in range(6)]
    assert current_control.get() is None  # nothing leaks into the caller's context


class Interruptible(BaseExecutor):
    """Waits until cancelled; cancel() reports success only for the handle it knows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cancelled: list[Any] = []

    def run(
        self, function: Any, args: list[Any], kwargs: dict[str, Any], task_metadata: dict[str, Any]
    ) -> Any:
        self.set_job_handle("the-job")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.get_cancel_requested():
                raise TaskCancelledError("stopped")
            time.sleep(0.005)
        return "not cancelled"

    def cancel(self, task_metadata: dict[str, Any], job_handle: Any) -> bool:
        self._cancelled.append(job_handle)
        return job_handle == "the-job"


def test_sync_cancel_calls_cancel_with_the_handle() -> None:
    executor = Interruptible()
    control = TaskControl(meta())

    async def scenario() -> bool:
        with ThreadPoolExecutor(2) as pool:
            running = asyncio.ensure_future(
                run_task(executor, add, [], {}, meta(), control, pool=pool)
            )
            deadline = time.monotonic() + 60
            while control.job_handle is None:
                assert time.monotonic() < deadline, "the task never set its handle"
                await asyncio.sleep(0.005)
            ok = await cancel_task(executor, control, pool=pool)
            with pytest.raises(TaskCancelledError):
                await running
            return ok

    assert asyncio.run(scenario()) is True
    assert executor._cancelled == ["the-job"]


def test_sync_cancel_from_another_thread() -> None:
    executor = Interruptible()
    control = TaskControl(meta())
    outcome: list[BaseException] = []

    def target() -> None:
        try:
            run_task_sync(executor, add, [], {}, meta(), control)
        except TaskCancelledError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + 60
    while control.job_handle is None:
        assert time.monotonic() < deadline, "the task never set its handle"
        time.sleep(0.005)
    assert cancel_task_sync(executor, control) is True
    thread.join(10)
    assert len(outcome) == 1 and executor._cancelled == ["the-job"]


def test_cancel_before_handle_is_seen_by_run() -> None:
    executor = Interruptible()
    control = TaskControl(meta())
    # No job yet: cancel() cannot be called, but the flag stops run() when it starts.
    assert asyncio.run(cancel_task(executor, control)) is False
    with pytest.raises(TaskCancelledError):
        run_task_sync(executor, add, [], {}, meta(), control)
    assert executor._cancelled == []


def test_helpers_outside_an_adaptor_are_harmless() -> None:
    executor = Recorder()
    assert executor.set_job_handle("x") is False
    assert executor.get_cancel_requested() is False
    executor.task_stdout.write("dropped")  # no control: goes nowhere, does not fail


class CountingSync(BaseExecutor):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._calls: list[str] = []

    def setup(self, task_metadata: dict[str, Any]) -> None:
        self._calls.append("setup")

    def run(
        self, function: Any, args: list[Any], kwargs: dict[str, Any], task_metadata: dict[str, Any]
    ) -> Any:
        self._calls.append("run")
        return function(*args, **kwargs)

    def teardown(self, task_metadata: dict[str, Any]) -> None:
        self._calls.append("teardown")


def test_call_executor_runs_sync_methods_off_the_loop() -> None:
    executor = CountingSync()

    async def lifecycle() -> int:
        loop_thread = threading.get_ident()
        seen: list[int] = []

        def where(x: int) -> int:
            seen.append(threading.get_ident())
            return x

        await call_executor(executor, "setup", meta())
        value = await run_task(executor, where, [4], {}, meta())
        await call_executor(executor, "teardown", meta())
        assert seen and seen[0] != loop_thread  # a blocking run must not block the loop
        return value

    assert asyncio.run(lifecycle()) == 4
    assert executor._calls == ["setup", "run", "teardown"]


def test_log_stdout_file_receives_reported_output(tmp_path: Path) -> None:
    executor = Recorder(log_stdout="node.out")
    md = {**meta(5), "results_dir": str(tmp_path)}
    run_task_sync(executor, add, [], {}, md)
    asyncio.run(run_task(executor, add, [], {}, md))
    assert (tmp_path / "d1" / "node.out").read_text() == "out 5\nout 5\n"


def test_short_names_and_config_keys() -> None:
    class MyFancyExecutor(BaseExecutor):
        def run(self, *a: Any) -> Any:
            return None

    class Named(BaseExecutor):
        short_name = "custom"

        def run(self, *a: Any) -> Any:
            return None

    class CovalentStyle(BaseExecutor):
        def short_name(self) -> str:  # type: ignore[override]
            return "covstyle"

        def run(self, *a: Any) -> Any:
            return None

    assert short_name_of(MyFancyExecutor()) == "myfancy"
    assert short_name_of(Named()) == "custom"
    assert short_name_of(CovalentStyle()) == "covstyle"
    assert short_name_of(ct.executor.LocalExecutor(workdir="/tmp")) == "local"
    assert ct.executor.RayExecutor.short_name == "ray"
    assert ct.executor.DaskExecutor().short_name == "dask"

    a = ct.executor.LocalExecutor(workdir="/a")
    assert config_key(a) == config_key(ct.executor.LocalExecutor(workdir="/a"))
    assert config_key(a) != config_key(ct.executor.LocalExecutor(workdir="/b"))
    assert config_key(a) != config_key(ct.executor.LocalExecutor(workdir="/a", max_concurrency=1))
    assert ct.executor.LocalExecutor(workdir="/a", max_concurrency=3).max_concurrency == 3
    with pytest.raises(ValueError):
        Recorder(max_concurrency=0)


def test_covalent_constructor_arguments_and_dict_form() -> None:
    executor = Recorder(
        log_stdout="o",
        log_stderr="e",
        cache_dir="/c",
        time_limit=5,
        retries=2,
        some_unknown_option=1,
    )
    assert (
        executor.log_stdout,
        executor.log_stderr,
        executor.cache_dir,
        executor.time_limit,
        executor.retries,
    ) == ("o", "e", "/c", 5, 2)
    as_dict = executor.to_dict()
    assert as_dict["short_name"] == "recorder"
    clone = Recorder().from_dict(as_dict)
    assert clone.config() == executor.config()


def test_async_executor_default_concurrency_exceeds_sync() -> None:
    class A(AsyncBaseExecutor):
        async def run(self, *a: Any) -> Any:
            return None

    assert A().max_concurrency > Recorder().max_concurrency >= 1
