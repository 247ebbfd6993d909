"""Starting, inspecting and stopping the covalent-ray service.

``start`` either starts a local Ray head (``ray start --head --block`` as a child process
of its own session, bound to 127.0.0.1, with token authentication and a token kept in
the home directory) or joins an existing cluster, then creates the dispatcher and the
result manager as detached named actors and waits until they answer.

``stop`` removes exactly what ``start`` created: the two actors, and the Ray head only if
``start`` started it (by signalling that head's own process, never with ``ray stop``).

Privacy: the home is made private first (``_home.make_private``: 0700, files 0600). A head
we start keeps its temporary directory (session logs, sockets, spilled objects) in
``<tmp>/covalent-ray-XXXXXXXX/ray``: Ray makes that ``ray`` directory world-writable, but
its parent is ours, created 0700, so no other user can reach anything below it. The
parent is recorded in ``service.json`` (``temp_dir``) and removed on ``stop``. The REST API
wants a token on loopback too: one is made at each start unless given (or refused with
``--no-api-token``), and kept in ``<home>/api_token`` (0600) while the service runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._exceptions import ServiceError
from .._home import (
    DISPATCHER_NAME,
    PRIVATE_UMASK,
    RESULT_MANAGER_NAME,
    api_token_file,
    db_path,
    logs_dir,
    make_private,
    service_file,
    write_private,
)
from ..client.connect import (
    ServiceInfo,
    apply_cluster_env,
    disconnect,
    login_url,
    use_loopback,
)
from .options import ENV_TOKEN, ApiOptions, bind, new_token

HEAD_START_TIMEOUT_S = 120.0
HEAD_STOP_TIMEOUT_S = 60.0
HEAD_START_ATTEMPTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid runs (a zombie does not count)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _private_log(path: Path) -> int:
    """A log file of the home opened for appending, 0600 whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class HeadOptions:
    """How to start a local Ray head."""

    num_cpus: int | None = None
    num_gpus: int | None = None
    resources: dict[str, float] | None = None
    object_store_memory: int | None = None
    port: int | None = None


def _auth_for_new_head(home: Path) -> tuple[str, str | None, dict[str, str]]:
    """Auth mode, token path and environment for a head we start.

    Token authentication stays on (Ray's default). The token lives in the home directory
    unless the user points Ray at their own (``RAY_AUTH_TOKEN``/``RAY_AUTH_TOKEN_PATH``);
    an explicit ``RAY_AUTH_MODE=disabled`` from the user is honoured and recorded.
    """
    env: dict[str, str] = {}
    mode = os.environ.get("RAY_AUTH_MODE", "token")
    if mode == "disabled":
        return mode, None, {"RAY_AUTH_MODE": "disabled"}
    env["RAY_AUTH_MODE"] = "token"
    if "RAY_AUTH_TOKEN" in os.environ:
        return "token", None, env
    if "RAY_AUTH_TOKEN_PATH" in os.environ:
        return "token", os.environ["RAY_AUTH_TOKEN_PATH"], env
    token_path = home / "ray_auth_token"
    if not token_path.exists():
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    env["RAY_AUTH_TOKEN_PATH"] = str(token_path)
    return "token", str(token_path), env


def _start_head(home: Path, options: HeadOptions) -> ServiceInfo:
    """Start a local Ray head. On a busy machine a free port can be taken by another
    process before Ray binds it, which makes `ray start` exit at once: that is retried
    with new ports (a port the caller chose is not)."""
    attempts = 1 if options.port else HEAD_START_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            return _start_head_once(home, options)
        except _HeadExited as exc:
            if attempt == attempts:
                raise ServiceError(str(exc)) from None
    raise AssertionError("unreachable")


class _HeadExited(Exception):
    """`ray start --head` ended by itself before the head was up."""


def _start_head_once(home: Path, options: HeadOptions) -> ServiceInfo:
    mode, token_path, auth_env = _auth_for_new_head(home)
    # 0700 (mkdtemp's mode), and short: Ray's socket paths must fit in 107 characters
    temp_dir = tempfile.mkdtemp(prefix="covalent-ray-")
    ray_temp = os.path.join(temp_dir, "ray")  # Ray makes this one 0777: its parent guards it
    port = options.port or free_port()
    cmd = [
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        f"--temp-dir={ray_temp}",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--ray-client-server-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
    ]
    if options.num_cpus is not None:
        cmd.append(f"--num-cpus={options.num_cpus}")
    if options.num_gpus is not None:
        cmd.append(f"--num-gpus={options.num_gpus}")
    if options.resources:
        cmd.append(f"--resources={json.dumps(options.resources)}")
    if options.object_store_memory:
        cmd.append(f"--object-store-memory={options.object_store_memory}")
    env = dict(os.environ)
    env.update(auth_env)
    env.update(
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
    )
    log_path = logs_dir(home) / "ray-head.log"
    with os.fdopen(_private_log(log_path), "ab") as log:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    marker = Path(ray_temp) / "ray_current_cluster"  # written once the head is up
    deadline = time.monotonic() + HEAD_START_TIMEOUT_S
    while not marker.exists():
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise _HeadExited(f"`ray start --head` exited with code {proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            _terminate(proc.pid, temp_dir)
            raise ServiceError(
                f"the Ray head did not start within {HEAD_START_TIMEOUT_S:.0f} s; see {log_path}"
            )
        time.sleep(0.1)
    address = f"127.0.0.1:{port}"
    return ServiceInfo(
        home=home,
        address=address,
        auth_mode=mode,
        auth_token_path=token_path,
        head_pid=proc.pid,
        temp_dir=temp_dir,
        loopback=True,
    )


def _join(home: Path, address: str) -> ServiceInfo:
    """Record how to reach a cluster someone else started (its auth as this shell has it)."""
    mode = os.environ.get("RAY_AUTH_MODE")
    token_path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if mode is None and "RAY_AUTH_TOKEN" not in os.environ:
        default = Path.home() / ".ray" / "auth_token"
        if token_path or default.exists():
            mode = "token"
            token_path = token_path or str(default)
    host = address.rsplit(":", 1)[0]
    return ServiceInfo(
        home=home,
        address=address,
        auth_mode=mode,
        auth_token_path=token_path,
        head_pid=None,
        temp_dir=None,
        loopback=host in ("127.0.0.1", "localhost", "auto"),
    )


def _terminate(pid: int, marker: str | None, timeout: float = HEAD_STOP_TIMEOUT_S) -> None:
    """Stop a process we started (the Ray head tears down its own Ray processes).

    ``marker`` must appear in the process's command line, so that a pid reused by an
    unrelated process is never signalled."""
    cmd = _cmdline(pid)
    if not pid_alive(pid) or (marker and marker not in cmd):
        return  # gone, or the pid now belongs to something else
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        os.killpg(os.getpgid(pid), signal.SIGKILL)  # its own session: only what it started
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _start_service_process(info: ServiceInfo, api: ApiOptions) -> None:
    """Start the long-lived service process (actors and HTTP server) and wait until its
    actors answer and its server listens."""
    home = info.home
    log_path = logs_dir(home) / "service.log"
    env = dict(os.environ)
    env.pop(ENV_TOKEN, None)
    if api.token:  # by environment: a command line is visible to every local user
        env[ENV_TOKEN] = api.token
    with os.fdopen(_private_log(log_path), "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "covalent_ray.service.process",
                "--home",
                str(home),
                "--api-host",
                api.host,
                "--api-port",
                str(api.port),
                *(
                    ["--api-max-body-bytes", str(api.max_body_bytes)]
                    if api.max_body_bytes is not None
                    else []
                ),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            umask=PRIVATE_UMASK,  # the database, its WAL, stored objects: 0600
        )
    deadline = time.monotonic() + HEAD_START_TIMEOUT_S
    while True:
        current = ServiceInfo.read(home)
        if current.ready:
            return
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise ServiceError(
                f"the covalent-ray service process exited with code {proc.returncode}:\n{tail}"
            )
        if time.monotonic() > deadline:
            _terminate(proc.pid, "covalent_ray.service.process")
            raise ServiceError(
                f"the covalent-ray service did not become ready within "
                f"{HEAD_START_TIMEOUT_S:.0f} s; see {log_path}"
            )
        time.sleep(0.1)


def _answers(info: ServiceInfo) -> bool:
    """Whether the recorded service's actors respond."""
    import ray

    if info.head_pid and not pid_alive(info.head_pid):
        return False
    if not info.ready or not pid_alive(info.service_pid):
        return False
    try:
        apply_cluster_env(info)
        if not ray.is_initialized():
            ray.init(
                address=info.address,
                namespace=info.namespace,
                log_to_driver=False,
                logging_level="ERROR",
            )
        actor = ray.get_actor(RESULT_MANAGER_NAME, namespace=info.namespace)
        ray.get(actor.ping.remote(), timeout=30)
        actor = ray.get_actor(DISPATCHER_NAME, namespace=info.namespace)
        ray.get(actor.ping.remote(), timeout=30)
        return True
    except Exception:
        return False


def start(
    home: Path,
    address: str | None = None,
    head: HeadOptions | None = None,
    api: ApiOptions | None = None,
) -> tuple[ServiceInfo, bool]:
    """Start the service for ``home``; returns its info and whether it was already running.

    ``api`` says where the REST API and dashboard listen (default: ``ApiOptions.from_env``,
    127.0.0.1:48008)."""
    api = api or ApiOptions.from_env()
    api.check()  # before anything starts: unsafe or invalid settings change nothing
    if address is None or address.rsplit(":", 1)[0] in ("127.0.0.1", "localhost"):
        use_loopback()
    import ray

    make_private(home)  # before anything is written there
    if service_file(home).exists():
        info = ServiceInfo.read(home)
        if _answers(info):
            return info, True
        _cleanup(info)  # a stale record: what it describes is gone or broken
        if ray.is_initialized():
            ray.shutdown()
    bind(api).close()  # a busy port fails here, before a Ray head is started for nothing
    if api.token is None and not api.no_token:
        api = dataclasses.replace(api, token=new_token())  # a new one at each start
    if api.token:  # where the SDK, the CLI and the login link find it
        write_private(api_token_file(home), api.token)
    else:
        api_token_file(home).unlink(missing_ok=True)
    info = _join(home, address) if address else _start_head(home, head or HeadOptions())
    info.api_auth = "token" if api.token else "none"
    info.write()
    try:
        _start_service_process(info, api)
    except BaseException:
        _cleanup(ServiceInfo.read(home))
        raise
    return ServiceInfo.read(home), False


def _cleanup(info: ServiceInfo) -> None:
    """Remove the actors (if reachable) and the head we started, and the record."""
    import ray

    _mark_stopping(info.home)
    try:
        if ray.is_initialized():
            for name in (DISPATCHER_NAME, RESULT_MANAGER_NAME):
                try:
                    actor = ray.get_actor(name, namespace=info.namespace)
                except ValueError:
                    continue
                if name == RESULT_MANAGER_NAME:
                    try:
                        ray.get(actor.close.remote(), timeout=30)
                    except Exception:
                        pass
                ray.kill(actor, no_restart=True)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        disconnect()
        if info.service_pid:
            _terminate(info.service_pid, "covalent_ray.service.process", timeout=30)
        if info.head_pid:
            _terminate(info.head_pid, info.temp_dir)
            if info.temp_dir:
                import shutil

                shutil.rmtree(info.temp_dir, ignore_errors=True)
        api_token_file(info.home).unlink(missing_ok=True)  # the next start makes a new one
        service_file(info.home).unlink(missing_ok=True)


def _mark_stopping(home: Path) -> None:
    """Say in the record that the service is going away, so that a client connecting now
    is told at once instead of joining a cluster that is shutting down."""
    try:
        current = ServiceInfo.read(home)
    except Exception:
        return
    if current.ready:
        current.ready = False
        current.write()


def stop(home: Path) -> ServiceInfo:
    """Stop the service recorded for ``home``; raises ServiceNotRunningError if none."""
    info = ServiceInfo.read(home)
    import ray

    if not ray.is_initialized() and (info.head_pid is None or pid_alive(info.head_pid)):
        try:
            apply_cluster_env(info)
            ray.init(
                address=info.address,
                namespace=info.namespace,
                log_to_driver=False,
                logging_level="ERROR",
            )
        except Exception:
            pass  # the cluster is gone: only local leftovers remain to clean
    _cleanup(info)
    return info


def status(home: Path) -> dict[str, Any]:
    """Where the service runs and what it holds."""
    import ray

    info = ServiceInfo.read(home)
    out: dict[str, Any] = {
        "home": str(home),
        "address": info.address,
        "namespace": info.namespace,
        "database": str(db_path(home)),
        "head_started_by_covalent_ray": info.head_pid is not None,
        "auth_mode": info.auth_mode or "default",
        "api_url": info.api_url,
        "api_auth": info.api_auth,
        "login_url": login_url(home),
    }
    if not _answers(info):
        out["running"] = False
        return out
    manager = ray.get_actor(RESULT_MANAGER_NAME, namespace=info.namespace)
    out["running"] = True
    out["actors"] = {DISPATCHER_NAME: "alive", RESULT_MANAGER_NAME: "alive"}
    out["dispatches"] = ray.get(manager.counts.remote(), timeout=30)
    try:
        dispatcher = ray.get_actor(DISPATCHER_NAME, namespace=info.namespace)
        out["adaptors"] = ray.get(dispatcher.adaptors.remote(), timeout=30)
    except Exception:  # an older or restarting dispatcher: no adaptor list
        out["adaptors"] = []
    out["triggers"] = ray.get(manager.triggers.remote(state="active"), timeout=30)
    out["nodes"] = len([n for n in ray.nodes() if n.get("Alive")])
    return out
