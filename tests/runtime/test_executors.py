"""Electrons on explicit executors, through actor adaptors, on the session's service."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

import covalent_ray as ct
from covalent_ray.executors import LocalExecutor, RayExecutor
from covalent_ray.service.control import pid_alive

pytestmark = pytest.mark.usefixtures("service")
PLUGINS = Path(__file__).parent / "plugins"


def test_local_executor_runs_in_a_subprocess_in_its_workdir(tmp_path) -> None:
    @ct.electron(executor=LocalExecutor(workdir=str(tmp_path)))
    def where():
        os.system("echo from-the-shell")  # written by another process, to fd 1
        print("from python", file=sys.stderr)
        return os.getcwd(), os.getpid()

    @ct.electron
    def worker_pid():
        return os.getpid()

    @ct.lattice
    def wf():
        return where(), worker_pid()

    result = ct.dispatch_sync(wf)()
    assert result.status == ct.status.COMPLETED, result.error
    (cwd, pid), ray_worker = result.result
    assert Path(cwd).resolve() == tmp_path.resolve()
    assert pid != ray_worker
    node = result.get_node_result(0)
    assert node["executor"] == "local"
    assert node["stdout"] == "from-the-shell\n"
    assert "from python" in node["stderr"]


def test_default_executor_captures_file_descriptors() -> None:
    @ct.electron
    def shell():
        os.system("echo from-a-child-process; echo to-stderr 1>&2")
        return ct.get_context().node_id

    @ct.lattice
    def wf():
        return shell()

    result = ct.dispatch_sync(wf)()
    node = result.get_node_result(0)
    assert node["stdout"] == "from-a-child-process\n"
    assert node["stderr"] == "to-stderr\n"
    assert result.result == 0  # ct.get_context() inside the electron


def test_cancel_kills_a_local_executor_subprocess(tmp_path) -> None:
    pidfile = tmp_path / "pid"

    @ct.electron(executor=LocalExecutor(workdir=str(tmp_path)))
    def stuck(path):
        Path(path).write_text(str(os.getpid()))
        time.sleep(120)

    @ct.lattice
    def wf(path):
        return stuck(path)

    dispatch_id = ct.dispatch(wf)(str(pidfile))
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    ct.cancel(dispatch_id)
    result = ct.get_result(dispatch_id, wait=True, timeout=60)
    assert result.status == ct.status.CANCELLED
    assert result.get_node_result(0)["status"] == ct.status.CANCELLED
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid)


def test_ray_executor_options_are_honoured() -> None:
    @ct.electron(executor=RayExecutor(num_cpus=1, runtime_env={"env_vars": {"GREETING": "hi"}}))
    def env():
        import ray

        return os.environ.get("GREETING"), ray.get_runtime_context().get_assigned_resources()

    @ct.lattice
    def wf():
        return env()

    result = ct.dispatch_sync(wf)()
    assert result.status == ct.status.COMPLETED, result.error
    greeting, assigned = result.result
    assert greeting == "hi" and assigned.get("CPU") == 1.0
    assert result.get_node_result(0)["executor"] == "ray"


@pytest.fixture
def adaptor_idle_s():
    """Set how long an idle adaptor is kept (config ``dispatcher.adaptor_idle_s``)."""
    from covalent_ray import _config

    def set_idle(seconds: float) -> None:
        _config.set_config({"dispatcher.adaptor_idle_s": seconds})

    yield set_idle
    _config.set_config({"dispatcher.adaptor_idle_s": None})


def _counting_executor(tmp_path, monkeypatch):
    monkeypatch.setenv("COVALENT_RAY_EXECUTOR_DIR", str(PLUGINS))
    from covalent_ray.executors import registry

    registry.refresh()
    executor = registry.resolve("counting")
    executor.logdir = str(tmp_path)
    return executor


def test_adaptor_sets_up_once_and_tears_down_after_the_dispatch(
    tmp_path, monkeypatch, adaptor_idle_s
) -> None:
    adaptor_idle_s(0)  # torn down as soon as the dispatch ends
    executor = _counting_executor(tmp_path, monkeypatch)

    @ct.electron(executor=executor)
    def double(x):
        return 2 * x

    @ct.lattice
    def wf():
        return [double(i) for i in range(3)]

    result = ct.dispatch_sync(wf)()
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == [0, 2, 4]
    assert len((tmp_path / "run").read_text().splitlines()) == 3
    deadline = time.monotonic() + 120
    while not (tmp_path / "teardown").exists():
        assert time.monotonic() < deadline, "the adaptor was not torn down"
        time.sleep(0.1)
    assert (tmp_path / "setup").read_text().count("\n") == 1
    assert (tmp_path / "teardown").read_text().count("\n") == 1
    # one adaptor process served all three electrons
    pids = {line.split()[1] for line in (tmp_path / "run").read_text().splitlines()}
    assert pids == {(tmp_path / "setup").read_text().strip()}


def test_an_idle_adaptor_serves_the_next_dispatch_of_its_executor(
    tmp_path, monkeypatch, adaptor_idle_s
) -> None:
    adaptor_idle_s(600)  # kept well beyond this test
    executor = _counting_executor(tmp_path, monkeypatch)

    @ct.electron(executor=executor)
    def double(x):
        return 2 * x

    @ct.lattice
    def wf(x):
        return double(x)

    assert ct.dispatch_sync(wf)(1).result == 2
    assert ct.dispatch_sync(wf)(2).result == 4  # after the first one ended
    assert (tmp_path / "setup").read_text().count("\n") == 1  # one adaptor, set up once
    assert not (tmp_path / "teardown").exists()
    pids = {line.split()[1] for line in (tmp_path / "run").read_text().splitlines()}
    assert pids == {(tmp_path / "setup").read_text().strip()}
    # once idle for the configured time (now 0 s), the next retirement tears it down
    adaptor_idle_s(0)
    assert ct.dispatch_sync(wf)(3).result == 6
    deadline = time.monotonic() + 120
    while not (tmp_path / "teardown").exists():
        assert time.monotonic() < deadline, "the idle adaptor was not torn down"
        time.sleep(0.1)
    assert (tmp_path / "teardown").read_text().count("\n") == 1


def test_deps_and_hooks_run_around_electrons(tmp_path) -> None:
    marker = tmp_path / "made-by-bash"

    def before():
        (tmp_path / "hook").write_text("before")

    def after():
        (tmp_path / "hook").unlink()

    def give(v):
        return v

    @ct.electron(
        deps_bash=ct.DepsBash([f"touch {marker}"]),
        call_before=[ct.DepsCall(before), ct.DepsCall(give, args=[5], retval_keyword="y")],
        call_after=[ct.DepsCall(after)],
    )
    def uses(x, y=None):
        return marker.exists(), (tmp_path / "hook").read_text(), x, y

    @ct.electron(
        executor="local",
        call_before=[
            ct.DepsCall(give, args=[1], retval_keyword="y"),
            ct.DepsCall(give, args=[2], retval_keyword="y"),
        ],
    )
    def many(y=None):
        return y

    @ct.lattice
    def wf():
        return uses(2), many()

    result = ct.dispatch_sync(wf)()
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == [(True, "before", 2, 5), [1, 2]]  # the body's tuple: a list
    assert not (tmp_path / "hook").exists()  # call_after ran


def test_lattice_deps_apply_to_electrons_without_their_own(tmp_path) -> None:
    log = tmp_path / "log"

    @ct.electron
    def inherits(x):
        return x

    @ct.electron(deps_bash=[f"echo own >> {log}"])
    def own(x):
        return x

    @ct.lattice(deps_bash=[f"echo lattice >> {log}"])
    def wf():
        return own(1), inherits(2), inherits(3)

    assert ct.dispatch_sync(wf)().result == [1, 2, 3]
    assert sorted(log.read_text().split()) == ["lattice", "lattice", "own"]


def test_failing_dep_names_the_dep() -> None:
    @ct.electron(deps_bash=["exit 3"])
    def never():
        return 1

    @ct.lattice
    def wf():
        return never()

    result = ct.dispatch_sync(wf)()
    assert result.status == ct.status.FAILED
    error = result.get_node_result(0)["error"]
    assert "DepsError" in error and "exit 3" in error


def test_workflow_executor_builds_sublattices(tmp_path) -> None:
    log = tmp_path / "built-in"

    @ct.electron
    def inc(x):
        return x + 1

    @ct.lattice(workflow_executor=LocalExecutor(workdir=str(tmp_path)))
    def inner(x):
        log.write_text(os.getcwd())  # the body runs where the sublattice is built
        return inc(x)

    @ct.lattice
    def outer(x):
        return ct.electron(inner)(x)

    result = ct.dispatch_sync(outer)(1)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == 2
    assert Path(log.read_text()).resolve() == tmp_path.resolve()
    assert result.get_node_result(0)["executor"] == "local"


def test_executor_defaults_for_retries_and_timeouts(tmp_path) -> None:
    counter = tmp_path / "tries"

    @ct.electron(executor=LocalExecutor(workdir=str(tmp_path), retries=2))
    def flaky():
        tries = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(tries))
        if tries < 3:
            raise RuntimeError(f"try {tries}")
        return tries

    @ct.electron(executor=LocalExecutor(workdir=str(tmp_path), time_limit=1))
    def slow():
        time.sleep(60)

    @ct.lattice
    def wf():
        return flaky(), slow()

    result = ct.dispatch_sync(wf)()
    assert result.get_node_result(0)["status"] == ct.status.COMPLETED
    assert result.get_node_result(0)["attempt"] == 3
    slow_node = next(n for n in result.get_all_node_results() if n["node_name"] == "slow")
    assert slow_node["status"] == ct.status.FAILED
    assert "timeout" in slow_node["error"].lower()
