"""Finding and joining the running service from any process (SDK, CLI, HTTP server).

``covalent-ray start`` writes ``service.json`` in the home directory: the cluster address,
the Ray namespace, and how the cluster authenticates. A client sets the same
``RAY_AUTH_MODE`` / ``RAY_AUTH_TOKEN_PATH`` the cluster was started with (unless the user
set their own) before connecting, which is what Ray's own clients need to find the token.

The REST API's token (a different one: it guards the dashboard and the HTTP API) is in
``<home>/api_token`` while the service runs; :func:`api_token` and :func:`login_url`
read it for the SDK and the CLI.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._exceptions import ServiceError, ServiceNotRunningError
from .._files import atomic_write
from .._home import (
    DISPATCHER_NAME,
    NAMESPACE,
    RESULT_MANAGER_NAME,
    api_token_file,
    home_dir,
    service_file,
)


@dataclass
class ServiceInfo:
    """Contents of ``service.json``."""

    home: Path
    address: str
    namespace: str = NAMESPACE
    auth_mode: str | None = None
    auth_token_path: str | None = None
    head_pid: int | None = None
    temp_dir: str | None = None
    loopback: bool = True
    api_url: str | None = None
    #: "token" when the REST API wants its token, "none" after ``--no-api-token``
    api_auth: str | None = None
    service_pid: int | None = None
    ready: bool = False

    @classmethod
    def read(cls, home: Path) -> ServiceInfo:
        """Read ``service.json``; raise ServiceNotRunningError when there is none."""
        path = service_file(home)
        if not path.exists():
            raise ServiceNotRunningError(
                f"covalent-ray is not running for home {home} (no {path.name} there). "
                f"Start it with `covalent-ray start --home {home}` (or set COVALENT_RAY_HOME)."
            )
        data = json.loads(path.read_text())
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "home"}
        return cls(home=home, **known)

    def write(self) -> None:
        """Write ``service.json`` atomically."""
        path = service_file(self.home)
        data = {k: v for k, v in self.__dict__.items() if k != "home"}
        atomic_write(path, json.dumps(data, indent=2), mode=0o600)


def api_token(home: str | os.PathLike[str] | None = None) -> str | None:
    """The REST API token of the home's running service (``<home>/api_token``), else
    ``$COVALENT_RAY_API_TOKEN``, else None (a service started with ``--no-api-token``)."""
    try:
        token = api_token_file(home_dir(home)).read_text().strip()
    except OSError:
        token = ""
    return token or os.environ.get("COVALENT_RAY_API_TOKEN") or None


def api_headers(home: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The headers that authenticate a request to the home's REST API."""
    token = api_token(home)
    return {"Authorization": f"Bearer {token}"} if token else {}


def login_url(home: str | os.PathLike[str] | None = None) -> str | None:
    """The dashboard's address with the token in its fragment (``#token=...``: a fragment
    never reaches a server or its logs; the dashboard keeps the token for the browser
    session and drops it from the address bar), or None without a running dashboard."""
    from urllib.parse import quote

    try:
        info = ServiceInfo.read(home_dir(home))
    except (ServiceNotRunningError, OSError, ValueError):
        return None
    if not info.api_url:
        return None
    base = info.api_url.rstrip("/") + "/"
    token = api_token(home)
    return f"{base}#token={quote(token, safe='')}" if token else base


def apply_cluster_env(info: ServiceInfo) -> None:
    """Make this process reach and authenticate to the cluster the way it expects."""
    if info.loopback:
        use_loopback()
    user_token = "RAY_AUTH_TOKEN" in os.environ or "RAY_AUTH_TOKEN_PATH" in os.environ
    if info.auth_mode and "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = info.auth_mode
    if info.auth_token_path and not user_token:
        os.environ["RAY_AUTH_TOKEN_PATH"] = info.auth_token_path
    _refresh_ray_auth()


def use_loopback() -> None:
    """Keep this process's Ray on 127.0.0.1 (as the cluster is).

    Ray rewrites 127.0.0.1 to the machine's interface address unless
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, a variable it reads once, at import; when Ray
    was imported before (by the user's own code), the constant it set is corrected.
    """
    import sys

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0":
        constants.ENABLE_RAY_CLUSTER = False  # type: ignore[attr-defined]


def _refresh_ray_auth() -> None:
    """If Ray was imported before the variables were set, make it re-read them."""
    import sys

    if "ray" not in sys.modules:
        return
    try:
        from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except Exception:  # older or newer Ray without these hooks: the variables suffice
        pass


@dataclass
class Connection:
    """Handles to the service's actors from this process."""

    info: ServiceInfo
    dispatcher: Any
    result_manager: Any


#: how long connecting may take before the service counts as not running
CONNECT_TIMEOUT_S = 5.0
#: how long a call keeps retrying through restarts of the service (env / config override)
RETRY_TIMEOUT_S = 120.0
ENV_RETRY_TIMEOUT = "COVALENT_RAY_RETRY_TIMEOUT"

_lock = threading.RLock()
_connection: Connection | None = None


def _same_service(a: ServiceInfo, b: ServiceInfo) -> bool:
    return (a.address, a.service_pid, a.head_pid, a.ready) == (
        b.address,
        b.service_pid,
        b.head_pid,
        b.ready,
    )


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return True  # not recorded (a cluster someone else runs): the probe below decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _not_running(info: ServiceInfo, why: str) -> ServiceNotRunningError:
    return ServiceNotRunningError(
        f"covalent-ray is not running for home {info.home}: {why}. Run `covalent-ray start "
        f"--home {info.home}` (after `covalent-ray stop` if a stale service is recorded)."
    )


def _probe(info: ServiceInfo, timeout: float) -> None:
    """Fail fast when the recorded service is plainly gone or stopping, before Ray's own
    connection set-up (which waits a long time for a head that is going away)."""
    import socket

    if not info.ready:
        raise _not_running(info, "the recorded service is starting or stopping")
    local = info.head_pid is not None or info.loopback
    if local and not _pid_alive(info.service_pid):
        raise _not_running(info, f"its service process (pid {info.service_pid}) has exited")
    if info.head_pid is not None and not _pid_alive(info.head_pid):
        raise _not_running(info, f"its Ray head (pid {info.head_pid}) has exited")
    host, _, port = info.address.rpartition(":")
    if port.isdigit():
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
        except OSError as exc:
            raise _not_running(info, f"its Ray cluster at {info.address} refuses ({exc})") from exc


def connect(home: str | os.PathLike[str] | None = None, *, check: bool = True) -> Connection:
    """Join the running service and return handles to its actors.

    The connection is kept for the process; each call re-reads ``service.json`` (a tiny
    file), so a client whose service was stopped and started again reconnects to the new
    one. A first connection checks, within :data:`CONNECT_TIMEOUT_S`, that the head and
    both actors answer, and raises :class:`ServiceNotRunningError` otherwise.
    ``check=False`` skips the checks of the record (for the service process itself, which
    connects before it marks itself ready).
    """
    global _connection
    with _lock:
        resolved = home_dir(home)
        info = ServiceInfo.read(resolved)
        if _connection is not None:
            if _connection.info.home == resolved and (
                _same_service(_connection.info, info) or not check
            ):
                return _connection
            _drop(shutdown=_connection.info.address != info.address)
        if check:
            _probe(info, CONNECT_TIMEOUT_S)
        apply_cluster_env(info)
        import ray

        if ray.is_initialized() and not _connected_to(info):
            ray.shutdown()
        if not ray.is_initialized():
            try:
                ray.init(
                    address=info.address,
                    namespace=info.namespace,
                    log_to_driver=False,
                    logging_level="ERROR",
                )
            except ConnectionError as exc:
                raise _not_running(
                    info, f"its Ray cluster ({info.address}) does not answer: {exc}"
                ) from exc
        try:
            dispatcher = ray.get_actor(DISPATCHER_NAME, namespace=info.namespace)
            manager = ray.get_actor(RESULT_MANAGER_NAME, namespace=info.namespace)
        except ValueError as exc:
            raise _not_running(
                info, f"its actors are not running on cluster {info.address}"
            ) from exc
        try:  # ``pid`` answers at once, even while the dispatcher resumes dispatches
            ray.get([dispatcher.pid.remote(), manager.pid.remote()], timeout=CONNECT_TIMEOUT_S)
        except Exception as exc:
            raise _not_running(
                info,
                f"its actors do not answer within {CONNECT_TIMEOUT_S:g} s ({type(exc).__name__})",
            ) from exc
        _connection = Connection(info, dispatcher, manager)
        return _connection


def _connected_to(info: ServiceInfo) -> bool:
    """Whether this process's Ray is connected to the cluster ``info`` names."""
    try:
        import ray

        gcs = ray.get_runtime_context().gcs_address
    except Exception:
        return False
    host, _, port = info.address.rpartition(":")
    return bool(gcs) and gcs.rpartition(":")[2] == port


def _drop(shutdown: bool) -> None:
    global _connection
    _connection = None
    if shutdown:
        import ray

        if ray.is_initialized():
            ray.shutdown()


def disconnect() -> None:
    """Forget the cached connection (the Ray connection itself stays)."""
    with _lock:
        _drop(shutdown=False)


#: errors that mean the service is restarting (or was restarted): worth another try
def _transient(exc: BaseException) -> bool:
    from ray.exceptions import RayActorError

    if isinstance(exc, RayActorError | ServiceNotRunningError | ConnectionError):
        return True
    return type(exc).__name__ in {"RaySystemError", "ObjectLostError", "OwnerDiedError"}


def retry_timeout(home: str | os.PathLike[str] | None = None) -> float:
    """How long calls retry through restarts: ``$COVALENT_RAY_RETRY_TIMEOUT``, else the
    ``sdk.retry_timeout`` setting, else :data:`RETRY_TIMEOUT_S` seconds."""
    value: Any = os.environ.get(ENV_RETRY_TIMEOUT)
    if value is None:
        try:
            from .._config import raw_config

            value = raw_config("sdk.retry_timeout")
        except Exception:  # an unreadable config file must not turn a retry into a crash
            value = None
    try:
        return max(0.0, float(value)) if value is not None else RETRY_TIMEOUT_S
    except ValueError:
        return RETRY_TIMEOUT_S


def call(
    send: Callable[[Connection, bool], Any],
    what: str,
    *,
    home: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    retry_for: float | None = None,
) -> Any:
    """Send one call to the service (``send(connection, retrying)`` returns its
    ObjectRef) and return its answer, retrying through restarts of the actors or the
    service.

    A first connection that fails raises at once (nothing was sent). Once a call was
    sent, a dead or restarting actor, or a service being restarted, makes it try again
    (``retrying=True``) for up to ``retry_for`` seconds (default :func:`retry_timeout`),
    with a message on stderr while it waits. Every call sent this way must therefore be
    idempotent: the dispatcher and result manager make them so.
    """
    import sys
    import time

    deadline: float | None = None
    pause = 0.1
    retrying = False
    while True:
        try:
            conn = connect(home)
            return _get(send(conn, retrying), timeout)
        except Exception as exc:
            if (not retrying and isinstance(exc, ServiceNotRunningError)) or not _transient(exc):
                cleared = _clear(exc, what)
                if cleared is exc:
                    raise
                raise cleared from exc
            if deadline is None:
                budget = retry_for if retry_for is not None else retry_timeout(home)
                deadline = time.monotonic() + budget
                print(
                    f"covalent-ray: the service did not answer while {what} "
                    f"({type(exc).__name__}); retrying for up to {budget:g} s "
                    f"(${ENV_RETRY_TIMEOUT} changes this)",
                    file=sys.stderr,
                    flush=True,
                )
            disconnect()
            retrying = True
            if time.monotonic() + pause > deadline:
                raise ServiceError(
                    f"the covalent-ray service did not answer while {what}, and kept not "
                    f"answering for the {budget:g} s allowed: {_reason(exc)}. Check "
                    "`covalent-ray status` and the logs in the home directory."
                ) from exc
            time.sleep(pause)  # a restart takes seconds: back off between tries
            pause = min(2.0, pause * 2)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _get(ref: Any, timeout: float | None) -> Any:
    """``ray.get`` that re-raises our own errors raised inside an actor as themselves."""
    import ray
    from ray.exceptions import RayTaskError

    from .._exceptions import CovalentRayError

    try:
        return ray.get(ref, timeout=timeout)
    except RayTaskError as exc:
        if isinstance(exc.cause, CovalentRayError):  # our own error, raised in an actor
            raise exc.cause from None
        raise


def _clear(exc: BaseException, what: str) -> BaseException:
    """The error a caller sees: ours as they are, a dead service as ServiceError."""
    from ray.exceptions import RayActorError

    if isinstance(exc, RayActorError):
        return ServiceError(
            f"the covalent-ray service failed while {what}: {exc}. Check `covalent-ray "
            "status` and the logs in the home directory."
        )
    return exc


def get(ref: Any, what: str, timeout: float | None = None) -> Any:
    """``ray.get`` that turns a dead service into a clear error (no retry)."""
    try:
        return _get(ref, timeout)
    except Exception as exc:
        cleared = _clear(exc, what)
        if cleared is exc:
            raise
        raise cleared from exc
