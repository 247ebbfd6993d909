"""Where the HTTP server listens and who may call it (no FastAPI import: the CLI and the
service launcher read this before any server exists).

The server binds 127.0.0.1 on :data:`DEFAULT_PORT` unless told otherwise, and requires an
API token on every data route, on loopback too: any local user can reach 127.0.0.1, and
the API reads every stored input and output, cancels, deletes and redispatches (which
runs stored lattice bodies). Unless one is given (``--api-token`` or
``$COVALENT_RAY_API_TOKEN``), ``covalent-ray start`` makes a random one at each start and
keeps it in ``<home>/api_token`` (0600), where the SDK and CLI read it. ``--no-api-token``
turns the check off, on loopback only.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass

from .._exceptions import ServiceError

#: The dashboard and REST API's port unless ``--port`` says otherwise (Covalent's own)
DEFAULT_PORT = 48008
DEFAULT_HOST = "127.0.0.1"
ENV_TOKEN = "COVALENT_RAY_API_TOKEN"
ENV_PORT = "COVALENT_RAY_API_PORT"
ENV_HOST = "COVALENT_RAY_API_HOST"
ENV_MAX_BODY = "COVALENT_RAY_API_MAX_BODY_BYTES"
#: Shortest token accepted: a guessable token is no protection on a network
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1 or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname: it may resolve to a public interface


@dataclass
class ApiOptions:
    """How the service's HTTP server (REST API and dashboard) listens.

    ``port=0`` picks any free port; the one chosen is recorded in ``service.json``.
    ``max_body_bytes`` bounds request bodies (None: the API's default, a few MB).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    max_body_bytes: int | None = None
    #: ``--no-api-token``: serve every route without a token (loopback only)
    no_token: bool = False

    @classmethod
    def from_env(
        cls, host: str | None = None, port: int | None = None, token: str | None = None
    ) -> ApiOptions:
        """Options from explicit values, else the environment, else the defaults."""
        env_port = os.environ.get(ENV_PORT)
        env_body = os.environ.get(ENV_MAX_BODY)
        return cls(
            host=host or os.environ.get(ENV_HOST) or DEFAULT_HOST,
            port=port if port is not None else int(env_port) if env_port else DEFAULT_PORT,
            token=token or os.environ.get(ENV_TOKEN) or None,
            max_body_bytes=int(env_body) if env_body else None,
        )

    def check(self) -> None:
        """Refuse settings that would expose results unprotected; raise ServiceError."""
        if not 0 <= self.port <= 65535:
            raise ServiceError(
                f"--port {self.port} is not a TCP port (0-65535; 0 picks a free one)."
            )
        if self.max_body_bytes is not None and self.max_body_bytes < 1024:
            raise ServiceError(
                f"--max-body-bytes {self.max_body_bytes} is too small for any API request; "
                "give at least 1024 (the default is a few MB)."
            )
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise ServiceError(
                f"the API token is too short ({len(self.token)} characters); use at least "
                f"{MIN_TOKEN_LENGTH}, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe())'`."
            )
        if self.no_token and self.token:
            raise ServiceError(
                "--no-api-token and an API token (--api-token or "
                f"${ENV_TOKEN}) contradict each other; give one of them."
            )
        if self.no_token and not is_loopback(self.host):
            raise ServiceError(
                f"--no-api-token would let anyone who reaches {self.host} read and run every "
                "workflow; it is allowed on a loopback address only (the default 127.0.0.1)."
            )
        if not is_loopback(self.host) and not self.token:
            raise ServiceError(
                f"the HTTP server would listen on {self.host}, beyond this machine, without an "
                f"API token. Pass --api-token (or set {ENV_TOKEN}) to require one, or keep the "
                "default --host 127.0.0.1."
            )


def new_token() -> str:
    """A fresh random API token (256 bits, URL-safe: it travels in the login link)."""
    import secrets

    return secrets.token_urlsafe(32)


def bind(options: ApiOptions) -> socket.socket:
    """A listening socket for the server, or ServiceError saying why not (port busy...)."""
    options.check()
    host = options.host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # SO_REUSEADDR lets a restarted service rebind at once past TIME_WAIT; it does not let
    # two live servers share the port on Linux
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, options.port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ServiceError(
            f"the HTTP server cannot listen on {options.host}:{options.port} ({exc.strerror}). "
            "Another program (or another covalent-ray home) may use that port: choose one "
            f"with `covalent-ray start --port N` (or ${ENV_PORT}); --port 0 picks a free one."
        ) from exc
    sock.set_inheritable(False)
    return sock


def url_for(host: str, port: int) -> str:
    """The URL local clients use for a server bound to ``host:port`` (a wildcard bind is
    reached through 127.0.0.1)."""
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
