"""Leptons in real dispatches: Covalent's lepton how-tos and functional tests (bash
commands with named outputs, the bash decorator with deps, hooks and files, a Python
module, a C library), and failures that carry the exit status and stderr."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

import covalent_ray as ct
from covalent_ray._exceptions import LatticeBuildError

pytestmark = pytest.mark.usefixtures("service")


def test_bash_multiply_how_to() -> None:
    task = ct.Lepton(
        language="bash",
        command="product=$(({num_1} * {num_2}))",
        argtypes=[
            (int, ct.Lepton.INPUT_OUTPUT),
            (int, ct.Lepton.INPUT_OUTPUT),
            (int, ct.Lepton.OUTPUT),
        ],
        named_outputs=["num_1", "num_2", "product"],
    )

    @ct.lattice
    def bash_multiply_workflow(**kwargs):
        return task(**kwargs)

    result = ct.dispatch_sync(bash_multiply_workflow)(num_1=7, num_2=8)
    assert result.status == ct.status.COMPLETED, result.error
    assert tuple(result.result) == (7, 8, 56)


def test_bash_decorator_with_deps_hooks_and_files(tmp_path: Path) -> None:
    source = tmp_path / "src.txt"
    source.write_text("payload")
    dest, dest2 = tmp_path / "dest.txt", tmp_path / "dest2.txt"
    echofile, echofile2 = tmp_path / "debug.txt", tmp_path / "debug2.txt"
    hook_log = tmp_path / "hooks.log"

    def call_hook(what):
        with open(hook_log, "a") as f:
            f.write(what + "\n")

    @ct.leptons.bash(
        executor="local",
        display_name="debug",
        call_before=ct.DepsCall(call_hook, ["before"]),
        call_after=ct.DepsCall(call_hook, ["after"]),
        deps_bash=ct.DepsBash(["whoami"]),
        deps_pip=ct.DepsPip(packages=["cloudpickle>=2.0"]),
        files=[ct.fs.FileTransfer(str(source), str(dest), order=ct.fs.Order.BEFORE)],
    )
    def task(x):
        return f"echo {x} > {echofile} && cat {dest}"

    def task2(x):
        return f"echo {x} > {echofile2}"

    @ct.electron
    def three():
        return 3

    @ct.lattice
    def workflow():
        task(5)
        ct.leptons.bash(
            task2,
            files=[ct.fs.FileTransfer(str(source), str(dest2), order=ct.fs.Order.AFTER)],
            deps_pip=["cloudpickle>=2.0.0"],
        )(three())  # its input is another electron's output, resolved where it runs

    result = ct.dispatch_sync(workflow)()
    assert result.status == ct.status.COMPLETED, result.error
    assert echofile.read_text().strip() == "5" and echofile2.read_text().strip() == "3"
    assert dest.read_text() == dest2.read_text() == "payload"
    assert hook_log.read_text().split() == ["before", "after"]
    debug = next(
        result.get_node_result(i)
        for i in range(4)
        if result.get_node_result(i)["node_name"] == "debug"
    )
    assert debug["stdout"].strip().endswith("payload")  # the command's output is captured


def test_lepton_call_dep_retval_keyword_is_refused() -> None:
    @ct.lattice
    def ft_workflow():
        @ct.leptons.bash(
            display_name="file_transfer_lepton",
            call_before=[ct.DepsCall(lambda: 123, retval_keyword="call_dep_hook")],
        )
        def file_transfer(call_dep_hook=None):
            return f"echo {call_dep_hook}"

        return file_transfer()

    with pytest.raises(LatticeBuildError, match="retval_keyword 'call_dep_hook' is not supported"):
        ct.dispatch(ft_workflow)()


def test_python_lepton_how_to(tmp_path: Path) -> None:
    (tmp_path / "test_module.py").write_text("def entrypoint(x, y):\n    return x + y\n")

    def set_pythonpath(directory):
        import sys

        sys.path.append(directory)

    task = ct.Lepton(
        language="python",
        library_name="test_module",
        function_name="entrypoint",
        call_before=[ct.DepsCall(set_pythonpath, args=[str(tmp_path)])],
    )

    @ct.lattice
    def workflow(x):
        return task(x, 1)

    result = ct.dispatch_sync(workflow)(2)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == 3


def test_c_lepton_from_a_shared_library(tmp_path: Path) -> None:
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "the C lepton test needs gcc (apt-get install gcc)"
    (tmp_path / "lib.c").write_text("void add(int a, int b, int *c) { *c = a + b; }\n")
    library = tmp_path / "libadd.so"
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-o", str(library), str(tmp_path / "lib.c")], check=True
    )
    add = ct.Lepton(
        language="C",
        library_name=str(library),
        function_name="add",
        argtypes=[
            (ctypes.c_int, ct.Lepton.INPUT),
            (ctypes.c_int, ct.Lepton.INPUT),
            (ctypes.POINTER(ctypes.c_int), ct.Lepton.OUTPUT),
        ],
    )

    @ct.electron
    def two():
        return 2

    @ct.lattice
    def workflow():
        return add(two(), 40)

    result = ct.dispatch_sync(workflow)()
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == 42


def test_failing_command_fails_the_electron_with_status_and_stderr() -> None:
    task = ct.Lepton(
        language="bash",
        command="echo 'relation \"users\" does not exist' >&2; exit 4",
        display_name="migrate",
    )

    @ct.lattice
    def workflow():
        return task()

    result = ct.dispatch_sync(workflow)()
    assert result.status == ct.status.FAILED
    node = result.get_node_result(0)
    assert node["node_name"] == "migrate"
    assert "LeptonError" in node["error"] and "exited with status 4" in node["error"]
    assert 'relation "users" does not exist' in node["error"]
