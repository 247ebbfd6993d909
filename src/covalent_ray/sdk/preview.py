"""``lattice.draw()``: hand a built graph to the dashboard of the running service.

The graph goes to ``POST /api/v1/previews`` of the service's REST API (found in
``service.json``); the dashboard draws it at ``#/preview/<id>``. As in Covalent, the URL
is printed (a browser is not started: the process may run on a machine without one).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from .._exceptions import ServiceError, ServiceNotRunningError
from ..client.connect import api_headers


def _api_url() -> str:
    from .._home import home_dir
    from ..client.connect import ServiceInfo

    info = ServiceInfo.read(home_dir())  # raises ServiceNotRunningError, saying what to do
    if not info.api_url:
        raise ServiceNotRunningError(
            "the covalent-ray service runs without its REST API and dashboard, so "
            "lattice.draw() has nowhere to draw; restart it with `covalent-ray start`."
        )
    return info.api_url.rstrip("/")


def show(name: str, graph: dict[str, Any]) -> str:
    """Store ``graph`` as a preview in the service; print and return the URL drawing it."""
    base = _api_url()
    body = json.dumps({"name": name, "graph": graph}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/previews",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    for key, value in api_headers().items():  # the token in the home, as the CLI sends
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (our service)
            created = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise ServiceError(
            f"the dashboard at {base} refused the preview of lattice {name!r} "
            f"(HTTP {exc.code}): {detail}"
            + (
                " The API token in the home's api_token file (or $COVALENT_RAY_API_TOKEN) "
                "is not the service's: restart it with `covalent-ray restart`."
                if exc.code == 401
                else ""
            )
        ) from exc
    except OSError as exc:
        raise ServiceError(
            f"cannot reach the dashboard at {base} to preview lattice {name!r}: {exc}. "
            "Check `covalent-ray status`."
        ) from exc
    url = f"{base}{created['url']}"
    print(f"To preview the transport graph of lattice {name!r}, visit {url}")
    return url
