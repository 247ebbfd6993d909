"""The executor contract (issue 10, item 7): the function a custom executor receives
returns the electron's output and nothing else, output capture goes around it, and it
unpickles where Python and cloudpickle are installed but covalent-ray is not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import covalent_ray as ct
from covalent_ray.executors.base import BaseExecutor
from servers import remote_python

pytestmark = pytest.mark.usefixtures("service")


class Inspecting(BaseExecutor):
    """Wraps what the function returned, as a plugin that post-processes outputs does."""

    def run(self, function: Any, args: list, kwargs: dict, task_metadata: dict) -> Any:
        return {"seen": function(*args, **kwargs), "type": type(function(*args, **kwargs)).__name__}


class ShipsElsewhere(BaseExecutor):
    """Pickles the function with plain cloudpickle and runs it in a venv that has only
    cloudpickle (no covalent-ray, no Ray)."""

    def __init__(self, python: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.python = python

    def run(self, function: Any, args: list, kwargs: dict, task_metadata: dict) -> Any:
        import pickle

        import cloudpickle

        program = (
            "import sys, pickle, importlib.util, cloudpickle\n"
            "f, a, k = cloudpickle.loads(sys.stdin.buffer.read())\n"
            "out = (f(*a, **k), importlib.util.find_spec('covalent_ray') is not None)\n"
            "sys.stdout.buffer.write(cloudpickle.dumps(out))\n"
        )
        done = subprocess.run(
            [self.python, "-E", "-c", program],  # -E: as on a machine without our PYTHONPATH
            input=cloudpickle.dumps((function, args, kwargs)),
            capture_output=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(done.stderr.decode())
        return pickle.loads(done.stdout)


def test_the_function_returns_the_output_only_and_capture_goes_around_it() -> None:
    @ct.electron(executor=Inspecting())
    def five():
        print("printed by the electron")
        return 5

    @ct.lattice
    def wf():
        return five()

    result = ct.dispatch_sync(wf)()
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == {"seen": 5, "type": "int"}
    assert "printed by the electron" in result.get_node_result(0)["stdout"]


def test_the_function_unpickles_without_covalent_ray(tmp_path: Path) -> None:
    python = remote_python(tmp_path / "bare-python")
    check = subprocess.run(
        [str(python), "-E", "-c", "import covalent_ray"], capture_output=True, check=False
    )
    assert check.returncode != 0  # that Python really has no covalent-ray

    def add(x, y):
        return x + y

    @ct.electron(executor=ShipsElsewhere(python=str(python)), deps_bash=["true"])
    def added(x):
        return add(x, 1)

    @ct.lattice
    def wf(x):
        return added(x)

    result = ct.dispatch_sync(wf)(41)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == (42, False)


def test_a_pickled_function_needs_no_covalent_ray_outside_the_service(tmp_path: Path) -> None:
    from covalent_ray import _serialize
    from covalent_ray.runtime.hooks import wrap_with_hooks

    def triple(x):
        return 3 * x

    hooked = wrap_with_hooks(triple, {"deps_bash": ["true"]}, {"node_id": 0})
    portable = _serialize.portable_dumps(hooked, "triple")
    python = remote_python(tmp_path / "bare")
    done = subprocess.run(
        [
            str(python),
            "-E",
            "-c",
            "import sys, cloudpickle; print(cloudpickle.loads(sys.stdin.buffer.read())(5))",
        ],
        input=portable,
        capture_output=True,
        check=True,
    )
    assert done.stdout.decode().strip() == "15"
    # and where covalent-ray is installed (a fresh process: unpickling by-value classes in
    # the process that pickled them redefines those classes' methods in place)
    here = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, cloudpickle; print(cloudpickle.loads(sys.stdin.buffer.read())(2))",
        ],
        input=portable,
        capture_output=True,
        check=True,
    )
    assert here.stdout.decode().strip() == "6"
