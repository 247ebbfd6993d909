"""Who may call the API: a bearer token (the service always sets one, unless started with
``--no-api-token``), and which Host headers are accepted.

The token is compared in constant time. It is sent as ``Authorization: Bearer <token>``
by every client, the dashboard included (it reads the live stream with ``fetch``, not
``EventSource``, so that the token never appears in a URL or a server log).

On loopback the server also accepts only loopback ``Host`` headers: a web page the user
visits cannot reach the API through DNS rebinding (a hostile name re-pointed at
127.0.0.1), since its requests carry that hostile name as their Host. And a request that
changes something (cancel, redispatch) is refused when a browser says it comes from
another site (its ``Origin``), so such a page cannot submit a form at the API either.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ._errors import CrossSiteRequestError, NotAuthenticatedError

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="APIToken",
    description="The token given to `covalent-ray start --api-token`.",
)


def token_guard(token: str) -> Callable[..., Awaitable[None]]:
    """A dependency that admits only requests carrying ``token``."""
    expected = token.encode()

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> None:
        given = credentials.credentials.encode() if credentials else b""
        if not secrets.compare_digest(given, expected):
            raise NotAuthenticatedError(
                "this covalent-ray API requires its API token: send the header "
                "`Authorization: Bearer <token>`. It is in the service's home, in the file "
                "api_token; `covalent-ray status` prints the dashboard's login link."
                if not given
                else "the API token is wrong."
            )

    return require_token


async def same_origin_writes(request: Request) -> None:
    """Refuse a state-changing request that a browser sent from another origin (clients
    that are not browsers send no ``Origin`` and pass)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if origin == "null" or urlsplit(origin).netloc != host:
        raise CrossSiteRequestError(
            f"a {request.method} from the web page at {origin} was refused: only the "
            "dashboard served by this server, or a client that is not a browser, may change "
            "dispatches."
        )
