"""Bad settings of the SSH and Slurm executors fail the dispatch when its graph is built,
naming the electron and the setting (no connection is tried)."""

from __future__ import annotations

from pathlib import Path

import pytest

import covalent_ray as ct
from covalent_ray._exceptions import ExecutorError
from covalent_ray.executors import SlurmExecutor, SSHExecutor


def _graph_of(executor: object) -> None:
    @ct.electron(executor=executor)
    def crunch(x):
        return x

    @ct.lattice
    def wf(x):
        return crunch(x)

    wf.build_graph(1)


def test_a_missing_key_file_fails_naming_the_electron_and_setting(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-key")
    ssh = SSHExecutor(hostname="127.0.0.1", username="me", ssh_key_file=missing)
    with pytest.raises(ExecutorError) as info:
        _graph_of(ssh)
    text = str(info.value)
    assert "electron 'crunch'" in text and f"ssh_key_file {missing!r} does not exist" in text
    slurm = SlurmExecutor(address="127.0.0.1", username="me", ssh_key_file=missing)
    with pytest.raises(ExecutorError, match=r"electron 'crunch'.*ssh_key_file"):
        _graph_of(slurm)


def test_bad_slurm_options_fail_naming_the_electron_and_option(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("not checked here")
    slurm = SlurmExecutor(address="127.0.0.1", username="me", ssh_key_file=str(key))
    slurm.options = {"time": "00:01:00", "--mem": "1G"}  # changed after construction
    with pytest.raises(ExecutorError) as info:
        _graph_of(slurm)
    assert "electron 'crunch'" in str(info.value) and "'--mem' is not an option name" in str(
        info.value
    )
    slurm.options = {"time": ["00:01:00"]}
    with pytest.raises(ExecutorError, match=r"value of 'time' must be a string or a number"):
        _graph_of(slurm)


def test_good_settings_pass(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("not checked here")
    assert SSHExecutor(hostname="h", ssh_key_file=str(key)).check_settings() == []
    slurm = SlurmExecutor(address="h", ssh_key_file=str(key), options={"time": "1", "N": 1})
    assert slurm.check_settings() == []
    _graph_of(slurm)
