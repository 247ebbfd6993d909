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


def test_json_times_are_iso_8601_in_utc(runs: dict[str, str]) -> None:
    from datetime import datetime

    row = next(r for r in _listed() if r["dispatch_id"] == runs["ok"])
    shown = json.loads(cli("result", runs["ok"], "--json").stdout)
    for when in (row["created_at"], row["end_time"], shown["start_time"], shown["end_time"]):
        assert when.endswith("Z"), when  # UTC, as the REST API writes it
        assert datetime.fromisoformat(when).utcoffset() is not None


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
    assert "COMPLETED" in bad_status.stderr  # says which statuses there are


def test_result_wait_shows_progress_and_exit_code(runs: dict[str, str]) -> None:
    ok = cli("result", runs["ok"], "--wait", "--progress")
    assert ok.exit_code == 0, ok.output
    assert "3/3" in ok.stderr and "COMPLETED" in ok.stderr and "3 completed" in ok.stderr
    bad = cli("result", runs["bad"], "--wait", "--progress", "--json")
    assert bad.exit_code == 3, bad.output
    assert json.loads(bad.stdout)["status"] == "FAILED"
    assert "1/1" in bad.stderr and "1 failed" in bad.stderr
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

    # a real process: the test runner would echo the typed answer into standard output
    soft = subprocess.run(
        [sys.executable, "-m", "covalent_ray.cli.main", "purge", "--home", str(home), "--json"],
        input="y\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert soft.returncode == 0, soft.stderr
    # the question went to standard error: standard output is the JSON answer alone
    assert "Continue?" in soft.stderr
    assert {Path(p).name for p in json.loads(soft.stdout)["removed"]} == {
        "logs",
        "workdir",
        "covalent_ray.toml",
    }
    assert sorted(p.name for p in home.iterdir()) == ["ends", "objects", "results.duckdb"]
    hard = cli("purge", "--hard", "-y", "--home", str(home))
    assert hard.exit_code == 0 and "Purged 3" in hard.stdout
    assert list(home.iterdir()) == []
    assert "Nothing to purge" in cli("purge", "-y", "--home", str(home)).stdout


def test_config_shows_settings_that_have_no_value(tmp_path: Path) -> None:
    home = str(tmp_path)
    # the Slurm executor's cert_file defaults to None, which TOML cannot write
    everything = cli("config", "--home", home)
    assert everything.exit_code == 0, everything.output
    assert "[executors.slurm]" in everything.stdout
    assert "# cert_file = (not set)" in everything.stdout
    one = cli("config", "executors.slurm.cert_file", "--home", home)
    assert one.exit_code == 0, one.output
    assert one.stdout.strip() == "(not set)"
    as_json = cli("config", "executors.slurm.cert_file", "--json", "--home", home)
    assert json.loads(as_json.stdout) is None


def test_config_refuses_keys_it_does_not_know(tmp_path: Path) -> None:
    home = str(tmp_path)
    config_file = tmp_path / "covalent_ray.toml"
    typo = cli("config", "executors.local.workdri", "/tmp/w", "--home", home)
    assert typo.exit_code == 1
    assert "workdri" in typo.stderr and "workdir" in typo.stderr and "--new" in typo.stderr
    assert not config_file.exists()  # nothing was written
    table = cli("config", "executors.local", "5", "--home", home)
    assert table.exit_code == 2 and "table" in table.stderr
    under_a_value = cli("config", "sdk.log_level.x", "1", "--new", "--home", home)
    assert under_a_value.exit_code == 2 and "sdk.log_level" in under_a_value.stderr
    assert cli("config", "sdk.log_level", "--home", home).stdout.strip() == '"warning"'
    for malformed in ("a..b", ".a", "a.", ""):
        out = cli("config", malformed, "1", "--new", "--home", home)
        assert out.exit_code == 2 and "invalid config key" in out.stderr, (malformed, out.output)
    meant = cli("config", "myplugin.endpoint", "http://127.0.0.1:9", "--new", "--home", home)
    assert meant.exit_code == 0, meant.output
    got = cli("config", "myplugin.endpoint", "--json", "--home", home)
    assert json.loads(got.stdout) == "http://127.0.0.1:9"


# -- every command, as a user meets it ---------------------------------------------------


def test_every_command_takes_home_and_json_where_it_prints_data() -> None:
    import typer

    group = typer.main.get_command(cli_app)
    commands = group.commands  # type: ignore[attr-defined]
    assert {"list", "result", "logs", "restart", "config", "purge"} <= set(commands)
    for name, command in commands.items():
        options = {o for p in command.params for o in p.opts}
        assert "--home" in options, name
        if name != "logs":  # the log is text, not data
            assert "--json" in options, name


def test_without_a_service_each_command_says_to_start_it(tmp_path: Path) -> None:
    home = str(tmp_path)
    for args in (
        ["list"],
        ["list", "--json"],
        ["result", "some-id"],
        ["result", "some-id", "--wait"],
        ["cancel", "some-id"],
        ["delete", "some-id"],
        ["sql", "SELECT 1"],
        ["export", str(tmp_path / "out")],
    ):
        out = cli(*args, "--home", home)
        assert out.exit_code == 1, (args, out.output)
        assert not isinstance(out.exception, Exception) or isinstance(out.exception, SystemExit)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and f"covalent-ray start --home {home}" in lines[0], (args, lines)


def test_bad_input_is_one_line_that_says_what_to_do(runs: dict[str, str]) -> None:
    cases = [
        (["result", "no-such-dispatch"], 1, "no-such-dispatch"),
        (["result", runs["ok"][:8]], 1, "Check the ID"),
        (["cancel", "no-such-dispatch"], 1, "no-such-dispatch"),
        (["delete", "no-such-dispatch"], 1, "no-such-dispatch"),
        (["list", "--since", "-5m"], 2, "30m, 2h or 7d"),
        (["list", "--since", "2026-13-01"], 2, "ISO date"),
        (["list", "--status", "done"], 2, "COMPLETED"),
        (["config", "no_such_section.key"], 1, "covalent-ray config"),
    ]
    for args, code, says in cases:
        out = cli(*args)
        assert out.exit_code == code, (args, out.output)
        assert not isinstance(out.exception, Exception) or isinstance(out.exception, SystemExit)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], (args, lines)


def test_export_refuses_a_file_and_an_unknown_view_in_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "results.parquet"
    a_file.write_text("")
    out = cli("export", str(a_file), "--home", str(tmp_path))
    assert out.exit_code == 1, out.output
    assert not isinstance(out.exception, Exception) or isinstance(out.exception, SystemExit)
    assert out.stderr.strip().splitlines() == [
        f"cannot write the Parquet files into {a_file}: File exists; "
        "give a directory (new or existing) you can write to"
    ]
    view = cli("export", str(tmp_path / "out"), "--view", "nope", "--home", str(tmp_path))
    assert view.exit_code == 1 and "the views are dispatches" in view.stderr


def test_start_refuses_bad_options_before_starting_anything(tmp_path: Path) -> None:
    from servers import free_port

    home = tmp_path / "home"
    for resources in ("{bad", "[1]", '{"special": "x"}'):
        out = cli("start", "--resources", resources, "--home", str(home))
        assert out.exit_code == 2, (resources, out.output)
        assert '{"special": 1}' in out.stderr
    assert cli("start", "--num-cpus", "-1", "--home", str(home)).exit_code == 2
    assert cli("restart", "--resources", "[1]", "--home", str(home)).exit_code == 2
    nobody = f"127.0.0.1:{free_port()}"  # a port nothing listens on
    out = cli("start", "--address", nobody, "--home", str(home))
    assert out.exit_code == 1, out.output
    assert f"nothing listens at {nobody}" in out.stderr and "ray start --head" in out.stderr
    assert not home.exists() or not any(home.iterdir())  # nothing was started or written
