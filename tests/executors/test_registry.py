"""Executor lookup: built-ins, entry points, executor directories, config defaults, errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import pytest

import covalent_ray as ct
from covalent_ray.executors import (
    DaskExecutor,
    ExecutorError,
    LocalExecutor,
    RayExecutor,
    UnknownExecutorError,
    registry,
)


def test_default_executor_spellings_resolve_to_none() -> None:
    assert registry.resolve(None) is None
    assert registry.resolve("dask") is None
    assert registry.resolve("default") is None
    assert registry.resolve(DaskExecutor()) is None
    assert registry.resolve(DaskExecutor(scheduler_address="tcp://ignored:1")) is None


def test_builtins_by_name_and_instances_pass_through(home: Path) -> None:
    assert set(registry.available()) == {"dask", "local", "ray", "slurm", "ssh"}
    local = registry.resolve("local")
    assert isinstance(local, LocalExecutor) and local.workdir == str(home / "workdir")
    mine = LocalExecutor(workdir="/w")
    assert registry.resolve(mine) is mine
    assert isinstance(registry.resolve("ray"), RayExecutor)


def test_names_get_their_config_table(tmp_path: Path) -> None:
    ct.set_config(
        {
            "executors.local.workdir": str(tmp_path),
            "executors.ray.num_gpus": 1,
            "executors.ray.resources": {"special": 1},
        }
    )
    assert registry.resolve("local").workdir == str(tmp_path)  # type: ignore[union-attr]
    ray_executor = registry.resolve("ray")
    assert isinstance(ray_executor, RayExecutor)
    assert ray_executor.ray_options() == {"num_gpus": 1, "resources": {"special": 1}}


def test_unknown_name_lists_the_available_ones(plugin_dir: Path) -> None:
    with pytest.raises(UnknownExecutorError) as info:
        registry.resolve("kubernetes")
    message = str(info.value)
    assert "'kubernetes'" in message
    assert "available executors: broken, dask, local, polling, ray, slurm, ssh, timing" in message
    assert isinstance(info.value, ExecutorError)


def test_executor_dir_from_config_and_from_env(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = Path(__file__).parent / "plugins"
    assert "timing" not in registry.available()
    ct.set_config("sdk.executor_dir", str(plugins))
    assert registry.available()["timing"] == f"executor module {plugins / 'timing.py'}"
    ct.set_config("sdk.executor_dir", None)
    assert "timing" not in registry.available()
    monkeypatch.setenv("COVALENT_RAY_EXECUTOR_DIR", f"/nonexistent:{plugins}")
    assert "timing" in registry.available()


def test_plugin_defaults_then_config_override(plugin_dir: Path, home: Path) -> None:
    timing = registry.resolve("timing")
    # _EXECUTOR_PLUGIN_DEFAULTS = {"timing_filepath": "timings.txt"}, resolved by the plugin
    assert timing.timing_filepath == str(Path("timings.txt").resolve())  # type: ignore[union-attr]
    assert ct.get_config("executors.timing.timing_filepath") == "timings.txt"
    ct.set_config("executors.timing.timing_filepath", str(home / "t.txt"))
    assert ct.get_config("executors.timing.timing_filepath") == str(home / "t.txt")
    assert registry.resolve("timing").timing_filepath == str(home / "t.txt")  # type: ignore[union-attr]
    # Covalent exposes plugin classes on ct.executor.
    assert ct.executor.TimingExecutor is type(timing)


def test_broken_plugin_is_named_with_its_cause(plugin_dir: Path) -> None:
    with pytest.raises(ExecutorError) as info:
        registry.resolve("broken")
    message = str(info.value)
    assert "'broken'" in message and "broken.py" in message
    assert "this plugin is broken on purpose" in message
    # The others still work.
    assert type(registry.resolve("timing")).__name__ == "TimingExecutor"


def test_module_without_plugin_name_and_bad_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "anon.py").write_text("class Whatever: pass\n")
    (tmp_path / "strict.py").write_text(
        textwrap.dedent("""
        from covalent_ray.executors import BaseExecutor
        EXECUTOR_PLUGIN_NAME = "StrictExecutor"
        class StrictExecutor(BaseExecutor):
            def __init__(self, host, **kwargs):
                super().__init__(**kwargs)
                self.host = host
            def run(self, function, args, kwargs, task_metadata):
                return function(*args, **kwargs)
    """)
    )
    monkeypatch.setenv("COVALENT_RAY_EXECUTOR_DIR", str(tmp_path))
    with pytest.raises(ExecutorError, match="does not set EXECUTOR_PLUGIN_NAME"):
        registry.resolve("anon")
    with pytest.raises(ExecutorError, match=r"'strict'.*could not be created.*host"):
        registry.resolve("strict")
    ct.set_config("executors.strict.host", "login.example.org")
    assert registry.resolve("strict").host == "login.example.org"  # type: ignore[union-attr]


def test_not_an_executor_is_refused() -> None:
    with pytest.raises(ExecutorError, match="is not an executor"):
        registry.resolve(42)


def _fake_distribution(site: Path, module_source: str, entry_points: str) -> None:
    (site / "cr_fake_plugin.py").write_text(textwrap.dedent(module_source))
    info = site / "cr_fake_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cr-fake-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


PLUGIN_SOURCE = """
    from covalent_ray.executors import BaseExecutor

    EXECUTOR_PLUGIN_NAME = "FakeExecutor"
    _EXECUTOR_PLUGIN_DEFAULTS = {"flavour": "vanilla"}

    class FakeExecutor(BaseExecutor):
        def __init__(self, flavour="plain", **kwargs):
            super().__init__(**kwargs)
            self.flavour = flavour

        def run(self, function, args, kwargs, task_metadata):
            return (self.flavour, function(*args, **kwargs))
"""


def test_entry_point_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An installed distribution, faked by a dist-info directory on sys.path, registers a
    # plugin module (Covalent style) and a class directly.
    _fake_distribution(
        tmp_path,
        PLUGIN_SOURCE,
        """
        [covalent_ray.executors]
        fake = cr_fake_plugin
        fakeclass = cr_fake_plugin:FakeExecutor
    """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    available = registry.available()
    assert available["fake"] == "entry point fake = cr_fake_plugin from cr-fake-plugin 0.1"
    assert "fakeclass" in available
    fake = registry.resolve("fake")
    assert type(fake).__name__ == "FakeExecutor"
    assert fake.flavour == "vanilla"  # type: ignore[union-attr]  # module defaults apply
    assert registry.resolve("fakeclass").flavour == "plain"  # type: ignore[union-attr]
    ct.set_config("executors.fake.flavour", "mint")
    assert registry.resolve("fake").flavour == "mint"  # type: ignore[union-attr]
    monkeypatch.delitem(sys.modules, "cr_fake_plugin", raising=False)


def test_builtins_cannot_be_shadowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "local.py").write_text("raise RuntimeError('should never be imported')\n")
    monkeypatch.setenv("COVALENT_RAY_EXECUTOR_DIR", str(tmp_path))
    assert isinstance(registry.resolve("local"), LocalExecutor)


def test_dir_plugin_instances_travel_to_processes_without_the_file(
    plugin_dir: Path, tmp_path: Path
) -> None:
    ct.set_config("executors.timing.timing_filepath", str(tmp_path / "t.txt"))
    timing = registry.resolve("timing")
    data = cloudpickle.dumps(timing)
    code = (
        "import sys, cloudpickle; e = cloudpickle.loads(sys.stdin.buffer.read()); "
        "print(type(e).__name__, e.short_name, e.run(len, ['abc'], {}, "
        "{'dispatch_id': 'd', 'node_id': 1}))"
    )
    # The child has no executor dir configured and never sees tests/executors/plugins.
    env = {"PATH": "/usr/bin:/bin", "COVALENT_RAY_HOME": str(tmp_path / "other-home")}
    out = (
        subprocess.run(
            [sys.executable, "-c", code], input=data, capture_output=True, env=env, check=True
        )
        .stdout.decode()
        .split()
    )
    assert out == ["TimingExecutor", "timing", "3"]
    assert (tmp_path / "t.txt").read_text().startswith("d 1 ")
