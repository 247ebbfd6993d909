"""Leptons called directly (what runs where the electron runs): bash, Python and C.

Cases follow Covalent's lepton how-tos (bash product, gcc version, Python module) and its
functional tests; dispatched leptons are in tests/runtime/test_leptons.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cloudpickle
import pytest

import covalent_ray as ct
from covalent_ray._exceptions import LatticeBuildError, LeptonError


def test_bash_command_with_named_outputs() -> None:
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
    assert task(num_1=7, num_2=8) == (7, 8, 56)


def test_bash_outputs_are_typed_and_braces_escape() -> None:
    task = ct.Lepton(
        language="bash",
        command="version=`echo 'tool 12.2.0' | awk 'NR==1 {{print $2}}'` "
        "&& IFS=. read major minor patch <<< $version",
        argtypes=[
            (str, ct.Lepton.INPUT_OUTPUT),
            (int, ct.Lepton.OUTPUT),
            (int, ct.Lepton.OUTPUT),
            (int, ct.Lepton.OUTPUT),
        ],
        named_outputs=["CPP", "major", "minor", "patch"],
    )
    assert task(CPP="gcc") == ("gcc", 12, 2, 0)


def test_bash_failure_carries_exit_status_and_stderr() -> None:
    task = ct.Lepton(language="bash", command="echo 'no such table' >&2; exit 7")
    with pytest.raises(LeptonError, match=r"exited with status 7; stderr:\nno such table"):
        task()


def test_shell_script_function_with_positional_args(tmp_path: Path) -> None:
    script = tmp_path / "lib.sh"
    script.write_text('greet() { result="hello $1 and $2"; }\n')
    task = ct.Lepton(
        language="bash",
        library_name=str(script),
        function_name="greet",
        argtypes=[(str, ct.Lepton.INPUT), (str, ct.Lepton.INPUT), (str, ct.Lepton.OUTPUT)],
        named_outputs=["result"],
    )
    assert task("ann", "bo") == "hello ann and bo"


def test_python_lepton_calls_a_module_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lepton_mod.py").write_text("def entrypoint(x, y):\n    return x + y\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    task = ct.Lepton(language="python", library_name="lepton_mod", function_name="entrypoint")
    assert task.name == "entrypoint"
    assert task(2, 1) == 3
    by_path = ct.Lepton(library_name=str(tmp_path / "lepton_mod.py"), function_name="entrypoint")
    assert by_path(40, 2) == 42
    missing = ct.Lepton(library_name="no_such_lepton_module", function_name="f")
    with pytest.raises(LeptonError, match="cannot import 'no_such_lepton_module'"):
        missing()


@pytest.fixture(scope="module")
def c_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("the C lepton tests need gcc (apt-get install gcc)")
    folder = tmp_path_factory.mktemp("clib")
    (folder / "lib.c").write_text(
        "void add(int a, int b, int *out) { *out = a + b; }\n"
        "void scale(double *xs, int n, double k) { for (int i = 0; i < n; i++) xs[i] *= k; }\n"
    )
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-o", str(folder / "lib.so"), str(folder / "lib.c")],
        check=True,
    )
    return folder / "lib.so"


def test_c_lepton_through_ctypes(c_library: Path) -> None:
    import ctypes

    add = ct.Lepton(
        language="C",
        library_name=str(c_library),
        function_name="add",
        argtypes=[
            (ctypes.c_int, ct.Lepton.INPUT),
            (ctypes.c_int, ct.Lepton.INPUT),
            (ctypes.POINTER(ctypes.c_int), ct.Lepton.OUTPUT),
        ],
    )
    assert add(2, 3) == 5
    scale = ct.Lepton(
        language="C",
        library_name=str(c_library),
        function_name="scale",
        argtypes=[
            (ctypes.POINTER(ctypes.c_double), ct.Lepton.INPUT_OUTPUT),
            (ctypes.c_int, ct.Lepton.INPUT),
            (ctypes.c_double, ct.Lepton.INPUT),
        ],
    )
    assert scale([1.0, 2.5], 2, 2.0) == [2.0, 5.0]
    absent = ct.Lepton(language="C", library_name="/nonexistent/lib.so", function_name="f")
    with pytest.raises(LeptonError, match="cannot open the shared library '/nonexistent/lib.so'"):
        absent()


def test_bash_decorator_runs_the_returned_command(tmp_path: Path) -> None:
    out = tmp_path / "echo.txt"

    @ct.leptons.bash(display_name="debug")
    def task(x):
        return f"echo {x} > {out}"

    assert task(5) is None
    assert out.read_text().strip() == "5"
    assert task.electron_object.name == "debug"


def test_invalid_leptons_are_refused_when_built() -> None:
    with pytest.raises(ValueError, match="either library_name .* or command"):
        ct.Lepton(language="bash", command="true", library_name="x.sh", function_name="f")
    with pytest.raises(ValueError, match="give library_name or command"):
        ct.Lepton(language="python")
    with pytest.raises(ValueError, match="needs the function_name"):
        ct.Lepton(language="python", library_name="mod")
    with pytest.raises(ValueError, match="not supported"):
        ct.Lepton(language="fortran", library_name="x", function_name="f")


def test_a_bash_lepton_with_a_retval_keyword_is_refused_when_its_lattice_is_built() -> None:
    # Covalent's functional test decorates first, then expects ct.dispatch to raise
    @ct.leptons.bash(call_before=[ct.DepsCall(lambda: 1, retval_keyword="hook")])
    def file_transfer(hook=None):
        return "true"

    @ct.lattice
    def workflow():
        return file_transfer()

    with pytest.raises(
        LatticeBuildError, match="retval_keyword 'hook' is not supported for lepton"
    ):
        workflow.build_graph()


def test_lepton_task_unpickles_without_covalent_ray() -> None:
    task = ct.Lepton(language="bash", command="echo hi; exit 3")
    payload = cloudpickle.dumps(task.function)
    code = (
        "import sys, pickle; sys.modules['covalent_ray'] = None\n"
        "task = pickle.loads(sys.stdin.buffer.read())\n"
        "try:\n    task()\nexcept RuntimeError as e:\n    print(type(e).__name__, e)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], input=payload, capture_output=True, check=True
    )
    assert b"RuntimeError" in proc.stdout and b"exited with status 3" in proc.stdout
