"""LocalExecutor: a fresh subprocess per electron, fd-level capture, errors, cancel."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import covalent_ray as ct
from covalent_ray._exceptions import ElectronTimeoutError, SerializationError
from covalent_ray.executors import LocalExecutor, TaskCancelledError, TaskRuntimeError
from covalent_ray.executors.base import TaskControl
from covalent_ray.runtime.executor_calls import cancel_task, run_task, run_task_sync
from covalent_ray.runtime.hooks import wrap_with_hooks
from covalent_ray.sdk.deps import DepsBash, DepsCall, DepsModule


def meta(node_id: int = 3, dispatch_id: str = "disp-1") -> dict[str, Any]:
    return {"dispatch_id": dispatch_id, "node_id": node_id, "node_name": "task", "results_dir": ""}


def run(
    executor: LocalExecutor, fn: Any, *args: Any, control: TaskControl | None = None, **kwargs: Any
) -> Any:
    return run_task_sync(executor, fn, list(args), kwargs, meta(), control)


def where_am_i() -> tuple[str, int]:
    return os.getcwd(), os.getpid()


def test_runs_in_a_fresh_subprocess_in_the_workdir(tmp_path: Path) -> None:
    executor = LocalExecutor(workdir=str(tmp_path / "wd"))
    cwd, pid = run(executor, where_am_i)
    assert cwd == str(tmp_path / "wd") and pid != os.getpid()
    _, pid2 = run(executor, where_am_i)
    assert pid2 != pid  # a new process per electron


def test_unique_workdir_per_dispatch_and_node(tmp_path: Path) -> None:
    executor = LocalExecutor(workdir=str(tmp_path), create_unique_workdir=True)
    cwd, _ = run(executor, where_am_i)
    assert cwd == str(tmp_path / "disp-1" / "node_3")


def test_default_workdir_comes_from_config(home: Path, tmp_path: Path) -> None:
    assert LocalExecutor().workdir == str(home / "workdir")
    ct.set_config(
        {
            "executors.local.workdir": str(tmp_path / "configured"),
            "executors.local.create_unique_workdir": True,
        }
    )
    executor = LocalExecutor()
    assert (executor.workdir, executor.create_unique_workdir) == (
        str(tmp_path / "configured"),
        True,
    )
    assert run(executor, where_am_i)[0] == str(tmp_path / "configured" / "disp-1" / "node_3")


def noisy() -> str:
    print("from print")
    sys.stdout.flush()
    os.write(1, b"raw fd write\n")
    os.system("echo from a shell child; echo shell error >&2")
    print("to stderr", file=sys.stderr)
    return "done"


def test_output_is_captured_at_the_file_descriptor_level(tmp_path: Path) -> None:
    control = TaskControl(meta())
    assert run(LocalExecutor(workdir=str(tmp_path)), noisy, control=control) == "done"
    out, err = control.output()
    assert out.splitlines() == ["from print", "raw fd write", "from a shell child"]
    assert err.splitlines() == ["shell error", "to stderr"]


def failing(x: int) -> None:
    print("before the failure")
    raise ValueError(f"bad value {x}")


def test_exception_reraises_with_its_traceback(tmp_path: Path) -> None:
    control = TaskControl(meta())
    with pytest.raises(ValueError, match="bad value 4") as info:
        run(LocalExecutor(workdir=str(tmp_path)), failing, 4, control=control)
    text = "".join(traceback.format_exception(info.value))
    # The subprocess's traceback is kept: the failing function and line are named. (Code
    # shipped by value has no file name, so the source line itself may not be shown.)
    assert f"line {failing.__code__.co_firstlineno + 2}, in failing" in text
    assert "ValueError: bad value 4" in text.split("direct cause")[0]
    assert control.output()[0] == "before the failure\n"


def test_context_is_available_in_the_subprocess(tmp_path: Path) -> None:
    def ctx() -> tuple[str, int, str]:
        c = ct.get_context()
        return c.dispatch_id, c.node_id, c.node_name

    assert run(LocalExecutor(workdir=str(tmp_path)), ctx) == ("disp-1", 3, "task")


def test_closures_and_local_classes_travel_by_value(tmp_path: Path) -> None:
    factor = 6

    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    result = run(LocalExecutor(workdir=str(tmp_path)), lambda p: Point(p.x * factor), Point(7))
    assert type(result).__name__ == "Point" and result.x == 42


def test_crash_without_result_is_a_task_runtime_error(tmp_path: Path) -> None:
    def crash() -> None:
        os.write(2, b"about to vanish\n")
        os._exit(7)

    with pytest.raises(TaskRuntimeError, match=r"exited with code 7[\s\S]*about to vanish"):
        run(LocalExecutor(workdir=str(tmp_path)), crash)


def test_sys_exit_in_an_electron_does_not_exit_the_caller(tmp_path: Path) -> None:
    with pytest.raises(TaskRuntimeError, match="SystemExit"):
        run(LocalExecutor(workdir=str(tmp_path)), sys.exit, 3)


def test_unpicklable_output_is_a_serialization_error(tmp_path: Path) -> None:
    def generator() -> Any:
        return (i for i in range(3))

    with pytest.raises(SerializationError, match="generator"):
        run(LocalExecutor(workdir=str(tmp_path)), generator)


def test_time_limit_kills_the_subprocess(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ElectronTimeoutError, match="time_limit"):
        run(LocalExecutor(workdir=str(tmp_path), time_limit=1), time.sleep, 30)
    assert time.monotonic() - started < 10


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has already died


def spawn_and_wait(pid_file: str) -> None:
    import subprocess

    child = subprocess.Popen(["sleep", "300"])
    Path(pid_file).write_text(f"{os.getpid()} {child.pid}")
    time.sleep(300)


def test_cancel_kills_the_subprocess_and_its_children(tmp_path: Path) -> None:
    executor = LocalExecutor(workdir=str(tmp_path))
    control = TaskControl(meta())
    pid_file = tmp_path / "pids"

    async def scenario() -> bool:
        with ThreadPoolExecutor(2) as pool:
            running = asyncio.ensure_future(
                run_task(executor, spawn_and_wait, [str(pid_file)], {}, meta(), control, pool=pool)
            )
            deadline = time.monotonic() + 30
            while not pid_file.exists() or not pid_file.read_text():
                assert time.monotonic() < deadline, "the electron never started"
                await asyncio.sleep(0.02)
            cancelled = await cancel_task(executor, control, pool=pool)
            with pytest.raises(TaskCancelledError):
                await asyncio.wait_for(running, 10)
            return cancelled

    assert asyncio.run(scenario()) is True
    runner_pid, child_pid = map(int, pid_file.read_text().split())
    assert control.job_handle == runner_pid
    deadline = time.monotonic() + 5
    while (_alive(runner_pid) or _alive(child_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(runner_pid) and not _alive(child_pid)
    assert executor.cancel(meta(), runner_pid) is False  # gone: a stale handle is a no-op


def test_cancel_requested_before_start_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    control = TaskControl(meta(), cancel_requested=True)
    with pytest.raises(TaskCancelledError, match="before it started"):
        run(LocalExecutor(workdir=str(tmp_path)), marker.write_text, "x", control=control)
    assert not marker.exists()


def test_cancel_refuses_pids_that_are_not_its_runners() -> None:
    assert LocalExecutor(workdir="/tmp").cancel(meta(), os.getpid()) is False
    assert LocalExecutor(workdir="/tmp").cancel(meta(), "not a pid") is False


def greet(name: str = "", greeting: str = "") -> str:
    return f"{greeting}, {name}: " + Path("made-by-bash.txt").read_text().strip()


def test_deps_and_hooks_run_inside_the_subprocess(tmp_path: Path) -> None:
    hooked = wrap_with_hooks(
        greet,
        {
            "deps_bash": DepsBash("echo prepared > made-by-bash.txt"),
            "call_before": [DepsCall(os.getpid, retval_keyword="greeting")],
        },
        meta(),
    )
    control = TaskControl(meta())
    out = run(LocalExecutor(workdir=str(tmp_path)), hooked, name="Ada", control=control)
    greeting, rest = out.split(",", 1)
    assert int(greeting) != os.getpid()  # call_before ran in the subprocess, not here
    assert rest == " Ada: prepared"
    assert (tmp_path / "made-by-bash.txt").exists()  # the bash command ran in the workdir


def test_deps_module_makes_a_missing_module_importable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "cr_shipped_helpers.py").write_text(
        "FACTOR = 3\n\ndef triple(x):\n    return x * FACTOR\n"
    )
    monkeypatch.syspath_prepend(str(src))
    import cr_shipped_helpers  # type: ignore[import-not-found]

    dep = DepsModule(cr_shipped_helpers)

    def use_it(x: int) -> int:
        import cr_shipped_helpers as helpers  # works only if the module was shipped

        return helpers.triple(x)

    hooked = wrap_with_hooks(use_it, {"call_before": [dep]}, meta())
    # The subprocess must not find the file: remove it and its directory from the path.
    (src / "cr_shipped_helpers.py").unlink()
    monkeypatch.delitem(sys.modules, "cr_shipped_helpers")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(src)])
    assert run(LocalExecutor(workdir=str(tmp_path)), hooked, 5) == 15
    with pytest.raises(ModuleNotFoundError):  # and without the dep it would have failed
        run(LocalExecutor(workdir=str(tmp_path)), use_it, 5)


def test_subprocess_does_not_outlive_its_parent(tmp_path: Path) -> None:
    # The process running the executor (an adaptor) is killed: its electron must not run on.
    import signal
    import subprocess

    pid_file = tmp_path / "pids"
    script = (
        "import sys; sys.path[:0] = sys.argv[3:]\n"
        "from covalent_ray.executors import LocalExecutor\n"
        "from covalent_ray.runtime.executor_calls import run_task_sync\n"
        "from tests.executors.test_local import spawn_and_wait\n"
        "run_task_sync(LocalExecutor(workdir=sys.argv[1]), spawn_and_wait, [sys.argv[2]], {},"
        " {'dispatch_id': 'd', 'node_id': 0})\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path), str(pid_file), *sys.path]
    )
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        runner_pid, child_pid = map(int, pid_file.read_text().split())
        task_dir = Path(Path(f"/proc/{runner_pid}/cmdline").read_bytes().split(b"\0")[4].decode())
        assert task_dir.name.startswith("covalent-ray-local-") and task_dir.exists()
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while (_alive(runner_pid) or _alive(child_pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(runner_pid) and not _alive(child_pid)
        assert not task_dir.exists()  # nobody else would remove its files
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if (
            pid_file.exists()
            and pid_file.read_text()
            and _alive(int(pid_file.read_text().split()[0]))
        ):
            os.killpg(int(pid_file.read_text().split()[0]), signal.SIGKILL)  # leave nothing behind


def test_unpicklable_input_names_the_electron(tmp_path: Path) -> None:
    import threading

    with pytest.raises(SerializationError, match=r"electron 'task' \(node 3 of dispatch disp-1\)"):
        run(LocalExecutor(workdir=str(tmp_path)), print, threading.Lock())


def test_huge_output_is_truncated(tmp_path: Path) -> None:
    def shout() -> None:
        os.write(1, b"x" * 1_200_000)

    control = TaskControl(meta())
    run(LocalExecutor(workdir=str(tmp_path)), shout, control=control)
    out = control.output()[0]
    assert out.startswith("x" * 1000) and out.endswith("[output truncated after 1000000 bytes]")
    assert len(out) < 1_000_100
