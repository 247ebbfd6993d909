"""ct.get_config / ct.set_config: defaults, the TOML file in the home, dotted keys."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import covalent_ray as ct
from covalent_ray import _config


def test_defaults_live_under_the_home(home: Path) -> None:
    assert ct.get_config("executors.local.workdir") == str(home / "workdir")
    assert ct.get_config("executors.local.create_unique_workdir") is False
    assert ct.get_config("sdk.executor_dir") == ""
    assert not _config.path().exists()  # reading never writes the file


def test_set_config_writes_toml_in_the_home(home: Path) -> None:
    ct.set_config("executors.local.workdir", "/data/work")
    ct.set_config({"executors.local.create_unique_workdir": True, "executors.ray.num_cpus": 2})
    file = home / "covalent_ray.toml"
    with open(file, "rb") as f:
        stored = tomllib.load(f)
    # Only what was set is stored; the defaults stay out of the file.
    assert stored == {
        "executors": {
            "local": {"workdir": "/data/work", "create_unique_workdir": True},
            "ray": {"num_cpus": 2},
        }
    }
    assert ct.get_config("executors.local") == {
        "workdir": "/data/work",
        "create_unique_workdir": True,
    }
    # Another process with the same home sees it.
    code = "import covalent_ray as ct; print(ct.get_config('executors.local.workdir'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "/data/work"


def test_none_removes_a_setting_and_restores_its_default(home: Path) -> None:
    ct.set_config("executors.local.workdir", "/elsewhere")
    ct.set_config("executors.local.workdir", None)
    assert ct.get_config("executors.local.workdir") == str(home / "workdir")


def test_list_of_keys(home: Path) -> None:
    assert ct.get_config(["sdk.executor_dir"]) == ""  # one key: its value, as in Covalent
    assert ct.get_config(["sdk.executor_dir", "executors.local.create_unique_workdir"]) == {
        "sdk.executor_dir": "",
        "executors.local.create_unique_workdir": False,
    }


def test_unknown_key_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError) as info:
        ct.get_config("executors.local.wrkdir")
    message = str(info.value)
    assert "'executors.local.wrkdir'" in message
    assert "known: create_unique_workdir, workdir" in message
    with pytest.raises(KeyError, match="invalid config key"):
        ct.get_config("executors..local")


def test_whole_config_merges_file_over_defaults(home: Path) -> None:
    ct.set_config("sdk.executor_dir", "/plugins")
    everything = ct.get_config()
    assert everything["sdk"]["executor_dir"] == "/plugins"
    assert everything["executors"]["local"]["workdir"] == str(home / "workdir")


def test_broken_file_is_reported_with_its_path(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "covalent_ray.toml").write_text("this is = = not toml")
    with pytest.raises(ValueError, match="covalent_ray.toml is not valid TOML"):
        ct.get_config("sdk.executor_dir")


def test_unstorable_value_is_refused(home: Path) -> None:
    with pytest.raises(ValueError, match="cannot store"):
        ct.set_config("sdk.thing", object())
    assert (
        not (home / "covalent_ray.toml").exists()
        or "thing" not in (home / "covalent_ray.toml").read_text()
    )


def test_get_config_without_key_has_covalents_sections(home: Path) -> None:
    everything = ct.get_config()
    assert {"sdk", "dispatcher", "user_interface", "executors"} <= set(everything)
    assert everything["dispatcher"]["address"] == "127.0.0.1"
    assert everything["dispatcher"]["port"] == 48008  # no service running for this home
    assert everything["dispatcher"]["db_path"] == str(home / "results.duckdb")
    assert ct.get_config("sdk.log_level") == "warning"
    assert ct.get_config(["dispatcher.address", "sdk.no_cluster"]) == {
        "dispatcher.address": "127.0.0.1",
        "sdk.no_cluster": "false",
    }
    assert "local" in everything["executors"]


def test_covalents_environment_variables_apply_unless_the_file_sets_the_key(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVALENT_SVC_PORT", "5123")
    monkeypatch.setenv("COVALENT_RESULTS_DIR", "/results/here")
    monkeypatch.setenv("LOGLEVEL", "debug")
    monkeypatch.setenv("COVALENT_DISABLE_DASK", "1")
    assert ct.get_config("dispatcher.port") == 5123
    assert ct.get_config("sdk.results_dir") == "/results/here"
    assert ct.get_config("sdk.log_level") == "debug"
    assert ct.get_config("sdk.no_cluster") == "true"
    ct.set_config("sdk.log_level", "error")  # as in Covalent, the file wins
    assert ct.get_config("sdk.log_level") == "error"


def test_executor_dir_from_covalents_variable(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVALENT_EXECUTOR_DIR", "/opt/plugins")
    assert Path("/opt/plugins") in _config.executor_dirs()


def test_reload_config_reads_the_file_again(home: Path) -> None:
    ct.set_config("sdk.log_level", "info")
    assert ct.reload_config() is None
    _config.path().write_text("[sdk\nbroken")
    with pytest.raises(ValueError, match="not valid TOML"):
        ct.reload_config()


@pytest.mark.ray
def test_dispatcher_address_is_the_running_services(service: object) -> None:
    from urllib.parse import urlsplit

    url = urlsplit(service.api_url)  # type: ignore[attr-defined]
    assert ct.get_config("dispatcher.port") == url.port
    assert ct.get_config("dispatcher.address") == url.hostname
    assert ct.get_config()["user_interface"]["port"] == url.port
    assert ct.is_covalent_running()


@pytest.mark.ray
def test_covalent_start_and_stop_wrap_the_service_commands(home: Path) -> None:
    assert not ct.is_covalent_running()
    ct.covalent_stop(quiet=True)  # not running: nothing to do
    ct.covalent_start(quiet=True)
    try:
        assert ct.is_covalent_running()
        ct.covalent_start(quiet=True)  # already running: nothing to do
        assert (home / "service.json").exists()
    finally:
        ct.covalent_stop(quiet=True)
    assert not ct.is_covalent_running()
    assert not (home / "service.json").exists()
