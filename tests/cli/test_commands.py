"""`covalent-ray list | result --wait | config | logs | purge`, as a user types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import covalent_ray as ct
from covalent_ray.cli.main import app as cli_app

runner = CliRunner()


def cli(*args: str, input: str | None = None) -> Any:
    return runner.invoke(cli_app, list(args), input=input)


# -- list and result, on the session's service ------------------------------------------


@ct.electron
def double(x):
    return 2 * x


@ct.electron
def explode(x):
    raise RuntimeError(f"no good: {x}")


@ct.lattice
def cli_listed_sum(n):
    return [double(i) for i in range(n)]


@ct.lattice
def cli_listed_failure(x):
    return explode(x)


@pytest.fixture(scope="module")
def runs(service: Any) -> dict[str, str]:
    ok = ct.dispatch(cli_listed_sum)(3)
    bad = ct.dispatch(cli_listed_failure)(7)
    for d in (ok, bad):
        ct.get_result(d, wait=True)
    return {"ok": ok, "bad": bad}


def _listed(*args: str) -> list[dict[str, Any]]:
    out = cli("list", "--json", "--limit", "200", *args)
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def test_list_newest_first_with_counts(runs: dict[str, str]) -> None:
    rows = _listed()
    ids = [r["dispatch_id"] for r in rows]
    assert ids.index(runs["bad"]) < ids.index(runs["ok"])  # dispatched later, listed first
    ok = rows[ids.index(runs["ok"])]
    assert ok["name"] == "cli_listed_sum" and ok["status"] == "COMPLETED"
    assert ok["electron_counts"]["COMPLETED"] >= 3


def test_list_filters(runs: dict[str, str]) -> None:
    failed = _listed("--status", "failed")
    assert runs["bad"] in {r["dispatch_id"] for r in failed}
    assert {r["status"] for r in failed} == {"FAILED"}
    by_name = _listed("--name", "LISTED_SUM")  # case-insensitive substring
    assert {r["dispatch_id"] for r in by_name} >= {runs["ok"]}
    assert {r["name"] for r in by_name} == {"cli_listed_sum"}
    assert runs["ok"] in {r["dispatch_id"] for r in _listed("--since", "1h")}
    assert _listed("--since", "2999-01-01") == []
    assert len(json.loads(cli("list", "--json", "--limit", "1").stdout)) == 1


def test_list_table_and_bad_filters(runs: dict[str, str]) -> None:
    table = cli("list", "--limit", "200")
    assert table.exit_code == 0, table.output
    line = next(x for x in table.stdout.splitlines() if runs["bad"] in x)
    assert "cli_listed_failure" in line and "FAILED" in line and "0/1" in line
    bad_time = cli("list", "--since", "last tuesday")
    assert bad_time.exit_code == 2 and "30m, 2h or 7d" in bad_time.stderr
    bad_status = cli("list", "--status", "DONE")
    assert bad_status.exit_code == 2 and "DONE" in bad_status.stderr


def test_result_wait_shows_progress_and_exit_code(runs: dict[str, str]) -> None:
    ok = cli("result", runs["ok"], "--wait", "--progress")
    assert ok.exit_code == 0, ok.output
    assert "3/3" in ok.stderr and "COMPLETED" in ok.stderr
    bad = cli("result", runs["bad"], "--wait", "--progress", "--json")
    assert bad.exit_code == 3, bad.output
    assert json.loads(bad.stdout)["status"] == "FAILED"
    assert "1/1" in bad.stderr
    missing = cli("result", "no-such-dispatch", "--wait", "--progress")
    assert missing.exit_code == 1 and "no-such-dispatch" in missing.stderr


def test_result_wait_follows_a_running_dispatch(service: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)

    @ct.electron
    def held(gate):
        with open(gate) as f:  # blocks until the test, watching, writes to the pipe
            return int(f.read())

    @ct.lattice
    def cli_followed(gate):
        start = held(gate)
        return [double(start + i) for i in range(3)]

    dispatch_id = ct.dispatch(cli_followed)(str(gate))
    from covalent_ray.sdk.history import watch

    steps = watch(dispatch_id)
    first = next(steps)
    total = first.total  # the electrons and the glue nodes that add to their output
    assert total >= 4 and not first.ended and first.finished == 0
    with open(gate, "w") as f:
        f.write("5")
    rest = list(steps)
    seen = [step.summary() for step in rest]
    assert rest and rest[-1].ended and rest[-1].finished == total, seen
    assert seen[-1] == f"{total}/{total} done: COMPLETED {total}"
    assert ct.get_result(dispatch_id, wait=True).result == [10, 12, 14]


# -- config, logs, purge: files of a home, no service needed ----------------------------


def test_config_get_set_unset(tmp_path: Path) -> None:
    home = str(tmp_path / "h")
    (tmp_path / "h").mkdir()
    everything = cli("config", "--home", home, "--json")
    assert everything.exit_code == 0, everything.output
    assert "local" in json.loads(everything.stdout)["executors"]
    assert (
        cli("config", "executors.local.workdir", "--home", home).stdout.strip().endswith('workdir"')
    )
    setting = cli("config", "executors.local.create_unique_workdir", "true", "--home", home)
    assert setting.exit_code == 0, setting.output
    got = cli("config", "executors.local.create_unique_workdir", "--home", home, "--json")
    assert json.loads(got.stdout) is True
    assert "create_unique_workdir = true" in (tmp_path / "h" / "covalent_ray.toml").read_text()
    table = cli("config", "executors.local", "--home", home)
    assert "[executors.local]" in table.stdout
    assert cli("config", "sdk.executor_dir", "/opt/x", "--home", home).exit_code == 0
    assert json.loads(cli("config", "sdk.executor_dir", "--json", "--home", home).stdout) == (
        "/opt/x"
    )
    unset = cli("config", "sdk.executor_dir", "--unset", "--home", home)
    assert unset.exit_code == 0
    assert cli("config", "sdk.executor_dir", "--json", "--home", home).stdout.strip() == '""'
    unknown = cli("config", "sdk.no_such_key", "--home", home)
    assert unknown.exit_code == 1 and "no_such_key" in unknown.stderr
    assert cli("config", "--unset", "--home", home).exit_code == 2


def _log(home: Path, lines: list[str]) -> Path:
    path = home / "logs" / "service.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{x}\n" for x in lines))
    return path


def test_logs_prints_the_last_lines(tmp_path: Path) -> None:
    _log(tmp_path, [f"line {i}" for i in range(500)])
    last = cli("logs", "-n", "3", "--home", str(tmp_path))
    assert last.exit_code == 0 and last.stdout.splitlines() == ["line 497", "line 498", "line 499"]
    assert len(cli("logs", "--lines", "0", "--home", str(tmp_path)).stdout.splitlines()) == 500
    none = cli("logs", "--home", str(tmp_path / "empty"))
    assert none.exit_code == 1 and "has not run yet" in none.stderr


def test_logs_follow_prints_new_lines(tmp_path: Path) -> None:
    path = _log(tmp_path, ["before"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "covalent_ray.cli.main", "logs", "-f", "--home", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    got: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            got.append(line.rstrip("\n"))
            if line.startswith("written later"):
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        with open(path, "a") as f:
            f.write("written later by the service\n")
        assert seen.wait(60), f"follow did not print the new line; printed {got}"
    finally:
        proc.terminate()
        proc.wait(30)
    assert got[0] == "before"


def test_purge_asks_then_keeps_results_unless_hard(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _log(home, ["x"])
    (home / "covalent_ray.toml").write_text("[sdk]\n")
    (home / "workdir").mkdir()
    (home / "results.duckdb").write_bytes(b"db")
    (home / "objects").mkdir()
    (home / "ends").mkdir()  # electrons' ends not recorded yet are results too
    declined = cli("purge", "--home", str(home), input="n\n")
    assert declined.exit_code == 1 and "logs" in declined.stdout
    assert (home / "logs").exists()

    soft = cli("purge", "--home", str(home), "--json", input="y\n")
    assert soft.exit_code == 0, soft.output
    assert sorted(p.name for p in home.iterdir()) == ["ends", "objects", "results.duckdb"]
    hard = cli("purge", "--hard", "-y", "--home", str(home))
    assert hard.exit_code == 0 and "Purged 3" in hard.stdout
    assert list(home.iterdir()) == []
    assert "Nothing to purge" in cli("purge", "-y", "--home", str(home)).stdout
