"""Finding and joining the running service from any process (SDK, CLI, HTTP server).

``covalent-ray start`` writes ``service.json`` in the home directory: the cluster address,
the Ray namespace, and how the cluster authenticates. A client sets the same
``RAY_AUTH_MODE`` / ``RAY_AUTH_TOKEN_PATH`` the cluster was started with (unless the user
set their own) before connecting, which is what Ray's own clients need to find the token.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._exceptions import ServiceError, ServiceNotRunningError
from .._home import DISPATCHER_NAME, NAMESPACE, RESULT_MANAGER_NAME, home_dir, service_file


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
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, path)


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
        constants.ENABLE_RAY_CLUSTER = False


def _refresh_ray_auth() -> None:
    """If Ray was imported before the variables were set, make it re-read them."""
    import sys

    if "ray" not in sys.modules:
        return
    try:
        from ray._raylet import AuthenticationTokenLoader, Config

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


_lock = threading.Lock()
_connection: Connection | None = None


def connect(home: str | os.PathLike[str] | None = None) -> Connection:
    """Join the running service (once per process) and return handles to its actors."""
    global _connection
    with _lock:
        resolved = home_dir(home)
        if _connection is not None and _connection.info.home == resolved:
            return _connection
        info = ServiceInfo.read(resolved)
        apply_cluster_env(info)
        import ray

        if not ray.is_initialized():
            try:
                ray.init(
                    address=info.address,
                    namespace=info.namespace,
                    log_to_driver=False,
                    logging_level="ERROR",
                )
            except ConnectionError as exc:
                raise ServiceNotRunningError(
                    f"the Ray cluster of covalent-ray ({info.address}, home {resolved}) does "
                    f"not answer: {exc}. Run `covalent-ray start` (after `covalent-ray stop` "
                    "if a stale service is recorded)."
                ) from exc
        try:
            dispatcher = ray.get_actor(DISPATCHER_NAME, namespace=info.namespace)
            manager = ray.get_actor(RESULT_MANAGER_NAME, namespace=info.namespace)
        except ValueError as exc:
            raise ServiceNotRunningError(
                f"the covalent-ray actors are not running on cluster {info.address} "
                f"(home {resolved}). Run `covalent-ray start`."
            ) from exc
        _connection = Connection(info, dispatcher, manager)
        return _connection


def disconnect() -> None:
    """Forget the cached connection (the Ray connection itself stays)."""
    global _connection
    with _lock:
        _connection = None


def get(ref: Any, what: str, timeout: float | None = None) -> Any:
    """``ray.get`` that turns a dead service into a clear error."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    from .._exceptions import CovalentRayError

    try:
        return ray.get(ref, timeout=timeout)
    except RayTaskError as exc:
        if isinstance(exc.cause, CovalentRayError):  # our own error, raised in an actor
            raise exc.cause from None
        raise
    except RayActorError as exc:
        raise ServiceError(
            f"the covalent-ray service failed while {what}: {exc}. Check `covalent-ray "
            "status` and the logs in the home directory."
        ) from exc
