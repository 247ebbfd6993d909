"""The HTTP API and the dashboard of covalent-ray (FastAPI, served by uvicorn).

Where it runs
-------------
Inside the service process (``service/process.py``), the long-lived Ray driver that
``covalent-ray start`` launches: ``start`` brings it up, ``stop`` ends it with the rest of
the service. It listens on 127.0.0.1:48008 unless told otherwise (``service/options.py``).

Why every read goes through the result manager actor
----------------------------------------------------
DuckDB allows one process to open a database file read-write, and while it holds it no
other process can open the file at all, not even read-only. The result manager actor is
that process: it writes every event, so the file is always held. The server therefore
never opens the database; it asks the actor, whose read queries run on reader threads
over cursors of the same connection (``storage/reads.py`` holds them), so reads see
committed writes and never block the writer. The live stream is the actor's change feed
(``changes``), long-polled per client, so the dashboard never polls whole graphs.

Layout: ``_app.create_app`` builds the application; ``routes/`` has one router per
resource; ``_models`` the request and response bodies; ``_errors`` the one table of
exception handlers; ``_security`` the API token; ``_backend`` the actor calls. The
service process (``service/http.py``) runs it under uvicorn. Importing
``covalent_ray.api`` itself is light; FastAPI loads with ``create_app``.

May import: the layers below (leaf modules, ``core``, ``storage``, ``client``, ``sdk``);
never ``runtime`` (it reaches the actors through ``client``), ``service`` or ``cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ._app import create_app
    from ._backend import ServiceBackend

__all__ = ["create_app", "ServiceBackend"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from ._app import create_app

        return create_app
    if name == "ServiceBackend":
        from ._backend import ServiceBackend

        return ServiceBackend
    raise AttributeError(f"module 'covalent_ray.api' has no attribute {name!r}")
