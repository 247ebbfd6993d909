"""Private by default: another local user can read nothing of a home, nothing of the Ray
head's temporary directory, and call nothing on the REST API.

One service of its own is started for the module, from a home an older version left
world-readable, under a directory every user can traverse (pytest's own temporary
directories are 0700, which would hide the home whatever its modes). The second user is
created by the test with ``useradd`` (so it runs as root, as here and in CI).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from covalent_ray._exceptions import ServiceError
from covalent_ray._home import make_private

# the session's service set these in this process: a service of its own must not inherit them
_OURS = {"COVALENT_RAY_HOME", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"}
#: what the other user's probe runs with: Debian's Python, stdlib only (the project's
#: virtual environment may not be readable by that user)
SYSTEM_PYTHON = "/usr/bin/python3"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _OURS}
    env["COVALENT_RAY_HOME"] = str(home)
    return env


def _run(args: list[str], home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, env=_env(home), timeout=timeout, umask=0o002
    )


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """`covalent-ray ...` run with a permissive umask (group-writable, world-readable)."""
    return _run([sys.executable, "-m", "covalent_ray.cli.main", *args, "--home", str(home)], home)


def _modes(root: Path, skip: frozenset[str] = frozenset()) -> dict[str, int]:
    """Every path under ``root`` (itself included) and its permission bits."""
    out = {".": stat.S_IMODE(root.lstat().st_mode)}
    for dirpath, dirs, files in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts and rel.parts[0] in skip:
            continue
        for name in (*dirs, *files):
            path = Path(dirpath) / name
            if rel == Path(".") and name in skip:
                continue
            out[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return out


@pytest.fixture(scope="module")
def shared_dir() -> Iterator[Path]:
    """A directory every local user can traverse and list (as ``~`` often is)."""
    base = Path(tempfile.mkdtemp(prefix="cr-private-"))
    base.chmod(0o755)
    (base / "public.txt").write_text("anyone may read this")
    (base / "public.txt").chmod(0o644)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def private_service(shared_dir: Path) -> Iterator[tuple[Path, dict[str, object]]]:
    """A service started on a home left world-readable by an older version, with one
    completed dispatch stored; yields the home and its ``service.json`` (with what
    `covalent-ray start` printed, as ``"stdout"``)."""
    home = shared_dir / "home"
    (home / "logs").mkdir(parents=True)
    (home / "objects" / "ab").mkdir(parents=True)
    for path in (
        home / "covalent_ray.toml",
        home / "logs" / "old.log",
        home / "objects" / "ab" / "x",
    ):
        path.write_text("left by an older version\n")
        path.chmod(0o644)
    for path in (home, home / "logs", home / "objects", home / "objects" / "ab"):
        path.chmod(0o755)
    started = _cli("start", "--num-cpus", "1", home=home)
    assert started.returncode == 0, started.stderr
    try:
        code = textwrap.dedent(
            """
            import covalent_ray as ct

            @ct.electron
            def secret(x):
                return "the secret of " + x

            @ct.electron
            def big():
                return "x" * 1_000_000  # above the inline limit: the worker writes its file

            @ct.lattice
            def wf(x):
                return secret(x), big()

            result = ct.get_result(ct.dispatch(wf)("lattice"), wait=True)
            assert result.result[0] == "the secret of lattice", result
            assert len(result.result[1]) == 1_000_000
            """
        )
        ran = _run([sys.executable, "-c", code], home)
        assert ran.returncode == 0, ran.stderr
        info = json.loads((home / "service.json").read_text())
        yield home, {**info, "stdout": started.stdout}
    finally:
        stopped = _cli("stop", home=home)
        assert stopped.returncode == 0, stopped.stderr
        assert not (home / "api_token").exists()  # the next start makes a new one


@pytest.fixture(scope="module")
def other_user() -> Iterator[str]:
    """A second, unprivileged Unix user, created for these tests and removed after."""
    if os.geteuid() != 0:
        pytest.skip(
            "needs root to create a second Unix user with useradd (CI and the dev "
            "container run the tests as root)"
        )
    if not shutil.which("useradd"):
        pytest.skip("useradd is missing (Debian's passwd package provides it)")
    name = f"crpriv{os.getpid()}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def _as_user(user: str, code: str, *args: str) -> dict[str, object]:
    """Run ``code`` (stdlib Python printing one JSON value) as ``user``; its answer."""
    import pwd

    entry = pwd.getpwnam(user)
    out = subprocess.run(
        [SYSTEM_PYTHON, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        user=entry.pw_uid,
        group=entry.pw_gid,
        extra_groups=[],
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    answer: dict[str, object] = json.loads(out.stdout)
    return answer


_PROBE = """
import json, os, sys

def probe(paths):
    opened = []
    for path in paths:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as f:
                    f.read(1)
            opened.append(path)
        except OSError:
            pass
    return opened

print(json.dumps({"opened": probe(json.loads(sys.argv[1]))}))
"""


@pytest.mark.ray
def test_home_files_and_ray_temp_dir_are_private(
    private_service: tuple[Path, dict[str, object]],
) -> None:
    home, info = private_service
    modes = _modes(home, skip=frozenset({"workdir", "cache"}))  # the electrons' own files
    for name in (
        "results.duckdb",
        "service.json",
        "logs/service.log",
        "logs/ray-head.log",
        "covalent_ray.toml",
        "logs/old.log",
        "objects/ab/x",
        "ray_auth_token",
        "api_token",
    ):
        assert modes.get(name) == 0o600, (name, oct(modes.get(name, 0)))
    blobs = [p for p in modes if p.startswith("objects/") and not (home / p).is_dir()]
    assert len(blobs) >= 2, blobs  # the legacy one and the large output's file
    loose = {p: oct(m) for p, m in modes.items() if m & 0o077}
    assert not loose, f"readable by others in the home: {loose}"
    dirs = [p for p in modes if (home / p).is_dir()]
    assert all(modes[d] == 0o700 for d in dirs), {d: oct(modes[d]) for d in dirs}

    temp_dir = Path(str(info["temp_dir"]))
    assert stat.S_IMODE(temp_dir.stat().st_mode) == 0o700
    # Ray keeps its session (logs, sockets) below, in a directory it makes 0777
    assert list((temp_dir / "ray").glob("session_*/sockets"))


@pytest.mark.ray
def test_other_user_reads_nothing(
    private_service: tuple[Path, dict[str, object]], shared_dir: Path, other_user: str
) -> None:
    home, info = private_service
    targets = [str(p) for p in (home, *sorted(home.rglob("*")))]
    temp_dir = Path(str(info["temp_dir"]))
    targets += [str(temp_dir), str(temp_dir / "ray"), *map(str, temp_dir.glob("ray/session_*"))]
    assert len(targets) > 10
    control = [str(shared_dir), str(shared_dir / "public.txt")]
    answer = _as_user(other_user, _PROBE, json.dumps(control + targets))
    opened = answer["opened"]
    assert opened[:2] == control  # the probe can read what is not private...
    assert opened[2:] == [], f"{other_user} could read {opened[2:]}"  # ...and nothing else


_CALLS = """
import json, sys, urllib.error, urllib.request

base, token = sys.argv[1], sys.argv[2]
answers = {}
for method, path in [("GET", "/api/v1/dispatches"), ("GET", "/api/v1/stats"),
                     ("GET", "/metrics"), ("POST", "/api/v1/sql"), ("GET", "/api/v1/health")]:
    tries = [("none", ""), ("wrong", "Bearer " + "x" * 43), ("token", "Bearer " + token)]
    for who, header in tries:
        request = urllib.request.Request(base + path, method=method)
        if header:
            request.add_header("Authorization", header)
        if method == "POST":
            request.add_header("Content-Type", "application/json")
            request.data = json.dumps({"query": "SELECT count(*) FROM dispatches"}).encode()
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                answers[f"{method} {path} {who}"] = answer.status
        except urllib.error.HTTPError as exc:
            answers[f"{method} {path} {who}"] = exc.code
print(json.dumps(answers))
"""


def _as_user_or_here(user: str | None, code: str, *args: str) -> dict[str, object]:
    """``_as_user``, or in a process of this user when ``user`` is None."""
    if user is not None:
        return _as_user(user, code, *args)
    out = subprocess.run(
        [SYSTEM_PYTHON, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    answer: dict[str, object] = json.loads(out.stdout)
    return answer


@pytest.mark.ray
def test_start_prints_a_login_link_with_the_token(
    private_service: tuple[Path, dict[str, object]],
) -> None:
    home, info = private_service
    token = (home / "api_token").read_text().strip()
    assert len(token) >= 32
    link = f"{info['api_url']}/#token={token}"
    assert f"Dashboard: {link}" in str(info["stdout"])
    status = _cli("status", home=home)
    assert status.returncode == 0 and f"Dashboard: {link}" in status.stdout, status.stdout
    answers = _as_user_or_here(None, _CALLS, str(info["api_url"]), token)
    with_token = {call: code for call, code in answers.items() if call.endswith(" token")}
    assert set(with_token.values()) == {200}, with_token  # this user, with the token
    assert answers["GET /api/v1/dispatches none"] == 401  # and not without it, here too


@pytest.mark.ray
def test_other_user_calls_nothing_without_the_token(
    private_service: tuple[Path, dict[str, object]], other_user: str
) -> None:
    _home, info = private_service
    # the other user may find the port (a port scan), not the token in the private home
    answers = _as_user_or_here(other_user, _CALLS, str(info["api_url"]), "not-the-token")
    for call, code in answers.items():
        if call.startswith("GET /api/v1/health"):
            assert code == 200, call  # says only that the service is up
        else:
            assert code == 401, (call, code)


@pytest.mark.ray
def test_no_api_token_opens_the_api_loudly(tmp_path: Path) -> None:
    home = tmp_path / "open-home"
    started = _cli("start", "--num-cpus", "1", "--no-api-token", home=home)
    assert started.returncode == 0, started.stderr
    try:
        assert "WARNING" in started.stdout and "every local user" in started.stdout
        assert not (home / "api_token").exists()
        info = json.loads((home / "service.json").read_text())
        assert info["api_auth"] == "none"
        answers = _as_user_or_here(None, _CALLS, info["api_url"], "")
        assert answers["GET /api/v1/dispatches none"] == 200
    finally:
        assert _cli("stop", home=home).returncode == 0


def test_no_api_token_is_refused_beyond_loopback_and_with_a_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for extra in (["--host", "0.0.0.0"], ["--api-token", "t" * 32]):
        out = _cli("start", "--no-api-token", *extra, home=home)
        assert out.returncode == 1, out.stdout
        assert "--no-api-token" in out.stderr + out.stdout
    assert not (home / "service.json").exists()


def test_a_foreign_directory_is_not_made_private(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    project.chmod(0o755)
    with pytest.raises(ServiceError, match="not a covalent-ray home"):
        make_private(project)
    assert stat.S_IMODE(project.stat().st_mode) == 0o755


def test_a_new_home_is_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        make_private(tmp_path / "a" / "home")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a" / "home").stat().st_mode) == 0o700
