"""Deps and hooks around an electron: order, injected values, pip, failures that name the dep."""

from __future__ import annotations

import importlib
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

import covalent_ray as ct
from covalent_ray._exceptions import DepsError
from covalent_ray.runtime import hooks
from covalent_ray.runtime.hooks import wrap_with_hooks
from covalent_ray.sdk import deps
from covalent_ray.sdk.deps import DepsBash, DepsCall, DepsPip

pytestmark = pytest.mark.usefixtures("home")

META = {"dispatch_id": "disp-9", "node_id": 4, "node_name": "train", "results_dir": ""}


def train(x: int = 0, **injected: Any) -> dict[str, Any]:
    return {"x": x, **injected}


def test_no_hooks_costs_nothing() -> None:
    assert wrap_with_hooks(train, {}, META) is train
    assert wrap_with_hooks(train, {"call_before": [], "deps_pip": None}, META) is train


def test_order_bash_pip_before_function_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "log"

    def note(what: str) -> None:
        with open(log, "a") as f:
            f.write(what + "\n")

    def electron_body() -> str:
        note("function")
        return "out"

    hooked = wrap_with_hooks(
        electron_body,
        {
            "deps_bash": ["echo bash1 >> log", "echo bash2 >> log"],
            "deps_pip": ["cloudpickle"],  # already installed: satisfied without running pip
            "call_before": [DepsCall(note, ["before"])],
            "call_after": [DepsCall(note, kwargs={"what": "after"})],
        },
        META,
    )
    assert hooked() == "out"
    assert log.read_text().split() == ["bash1", "bash2", "before", "function", "after"]


def test_retval_keywords_single_value_and_repeated_list() -> None:
    hooked = wrap_with_hooks(
        train,
        {
            "call_before": [
                DepsCall(lambda: "db-conn", retval_keyword="conn"),
                DepsCall(lambda a: a * 2, [1], retval_keyword="shards"),
                DepsCall(lambda a: a * 2, [2], retval_keyword="shards"),
                DepsCall(lambda: "ignored"),
            ]
        },
        META,
    )
    assert hooked(5) == {"x": 5, "conn": "db-conn", "shards": [2, 4]}


def test_files_keyword_is_reserved() -> None:
    with pytest.raises(ValueError, match="reserved"):
        DepsCall(train, retval_keyword="files")


def test_failing_bash_names_command_exit_code_and_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ran = []
    hooked = wrap_with_hooks(
        lambda: ran.append(1),
        {"deps_bash": DepsBash(["true", "echo 'disk quota exceeded' >&2; exit 3", "touch never"])},
        META,
    )
    with pytest.raises(DepsError) as info:
        hooked()
    message = str(info.value)
    assert "exit 3" in message and "exited with code 3" in message
    assert "disk quota exceeded" in message
    assert "electron 'train' (node 4 of dispatch disp-9)" in message
    assert ran == [] and not (tmp_path / "never").exists()  # nothing after the failure ran


def test_failing_call_before_and_after_are_named() -> None:
    def connect() -> None:
        raise ConnectionError("database unreachable")

    calls = []
    before = wrap_with_hooks(lambda: calls.append("fn"), {"call_before": [DepsCall(connect)]}, META)
    with pytest.raises(
        DepsError,
        match=r"call_before DepsCall .*connect of electron 'train'.*"
        r"ConnectionError: database unreachable",
    ):
        before()
    assert calls == []
    after = wrap_with_hooks(lambda: calls.append("fn"), {"call_after": [connect]}, META)
    with pytest.raises(DepsError, match="call_after DepsCall .*connect"):
        after()
    assert calls == ["fn"]  # the electron ran; its cleanup failed


def test_electron_errors_are_not_wrapped() -> None:
    def body() -> None:
        raise KeyError("the electron's own error")

    hooked = wrap_with_hooks(body, {"call_before": [DepsCall(print)]}, META)
    with pytest.raises(KeyError):
        hooked()


def test_wrapper_survives_cloudpickle() -> None:
    hooked = wrap_with_hooks(
        train,
        {"call_before": [DepsCall(lambda: 7, retval_keyword="seed")], "deps_bash": "true"},
        META,
    )
    clone = cloudpickle.loads(cloudpickle.dumps(hooked))
    assert clone(1) == {"x": 1, "seed": 7}
    assert clone.__name__ == "train"


def _make_wheel(directory: Path, name: str, version: str, value: int) -> Path:
    """A minimal pure-Python wheel, built by hand (no build backend, no network)."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    wheel = directory / f"{module}-{version}-py3-none-any.whl"
    files = {
        f"{module}.py": f"VALUE = {value}\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in files) + f"{dist_info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
        zf.writestr(f"{dist_info}/RECORD", record)
    return wheel


@pytest.fixture
def private_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """pip installs into a private target on sys.path, from a local folder only.

    The package's name is new for every run, so a copy left installed anywhere by another
    run (or another checkout sharing the environment) can never satisfy it.
    """
    target, index = tmp_path / "target", tmp_path / "index"
    target.mkdir()
    index.mkdir()
    monkeypatch.setenv("PIP_TARGET", str(target))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    monkeypatch.syspath_prepend(str(target))
    name = f"cr-test-pkg-{uuid.uuid4().hex[:12]}"
    _make_wheel(index, name, "1.0", 42)
    return target, name


def test_pip_installs_then_is_cheap(
    private_pip: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, name = private_pip
    module = name.replace("-", "_")
    runs: list[list[str]] = []
    real_run_pip = hooks._run_pip

    def counting(args: list[str]) -> Any:
        runs.append(args)
        return real_run_pip(args)

    monkeypatch.setattr(hooks, "_run_pip", counting)

    def use_pkg() -> int:
        return int(importlib.import_module(module).VALUE)

    hooked = wrap_with_hooks(use_pkg, {"deps_pip": ct.DepsPip([f"{name}==1.0"])}, META)
    try:
        assert hooked() == 42
        assert runs == [[f"{name}==1.0"]]
        assert (target / f"{module}.py").exists()
        assert hooked() == 42
        assert len(runs) == 1  # already satisfied: pip is not run again
    finally:
        sys.modules.pop(module, None)


def test_pip_failure_names_the_package(private_pip: tuple[Path, str]) -> None:
    _, name = private_pip
    hooked = wrap_with_hooks(train, {"deps_pip": [f"{name}==9.9"]}, META)
    with pytest.raises(DepsError) as info:
        hooked()
    message = str(info.value)
    assert f"deps_pip ['{name}==9.9'] of electron 'train'" in message
    assert "exited with code" in message
    assert f"{name}==9.9" in message.split("output ends with")[1]  # pip's own words


def test_requirements_file_is_read_when_the_dep_is_created(tmp_path: Path) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("cloudpickle>=1\n# a comment\n")
    dep = DepsPip(reqs_path=str(reqs))
    reqs.unlink()  # where the electron runs, the file need not exist
    assert dep.requirements_content == "cloudpickle>=1\n# a comment\n"
    assert wrap_with_hooks(train, {"deps_pip": dep}, META)(3) == {"x": 3}  # satisfied: no pip


def test_lattice_hooks_are_exported_under_covalent_names() -> None:
    assert ct.DepsBash is DepsBash and ct.DepsCall is DepsCall and ct.DepsPip is DepsPip
    assert ct.DepsModule is deps.DepsModule
    assert isinstance(ct.DepsModule("json"), ct.DepsCall)
