"""How dispatches and results look in a Jupyter notebook: a compact HTML summary with a
link to the dispatch's page on the dashboard.

``ct.dispatch(...)(...)`` returns a :class:`DispatchId`, a ``str`` (equal to, hashed and
serialised as the plain ID) that Jupyter shows as the ID, the dispatch's status and the
dashboard link; a ``Result`` shows its lattice, status, times, electron counts and its
result or error. Every piece of user data is HTML-escaped. The link comes from the
running service's ``service.json`` (no call to the service); without a running service
there is no link.
"""

from __future__ import annotations

import html
import os
from datetime import datetime
from typing import Any

from .._status import Status

#: the dashboard's status colours (ui/status.js)
_COLORS = {
    "NEW_OBJECT": "#9aa5b1",
    "STARTING": "#74c0fc",
    "PENDING_REUSE": "#74c0fc",
    "RUNNING": "#3b82f6",
    "DISPATCHING": "#7c5cdb",
    "POSTPROCESSING": "#14b8a6",
    "COMPLETED": "#22a06b",
    "FAILED": "#e03131",
    "CANCELLED": "#f08c00",
    "POSTPROCESSING_FAILED": "#a61e4d",
}
_MAX_TEXT = 300


def dashboard_url(dispatch_id: str, home: str | os.PathLike[str] | None = None) -> str | None:
    """The dashboard page of a dispatch, or None when no service of ``home`` is running
    (or it serves no dashboard)."""
    from .._home import home_dir
    from ..client.connect import ServiceInfo

    try:
        info = ServiceInfo.read(home_dir(home))
    except Exception:  # not running, or an unreadable service.json: no link
        return None
    if not info.api_url:
        return None
    return f"{info.api_url.rstrip('/')}/#/dispatches/{dispatch_id}"


def _short(text: Any) -> str:
    text = str(text)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _badge(status: str) -> str:
    color = _COLORS.get(status, "#9aa5b1")
    return (
        f'<span style="background:{color};color:#fff;border-radius:9px;padding:1px 8px;'
        f'font-size:11px;font-weight:600">{html.escape(status)}</span>'
    )


def _link(url: str | None) -> str:
    if url is None:
        return '<span style="color:#687386">(no dashboard: the service is not running)</span>'
    return (
        f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener">'
        "Open in the dashboard →</a>"
    )


def _time(value: datetime | None) -> str:
    return "—" if value is None else html.escape(value.strftime("%Y-%m-%d %H:%M:%S UTC"))


def _rows(pairs: list[tuple[str, str]]) -> str:
    cells = "".join(
        f'<tr><th style="text-align:left;color:#687386;font-weight:normal;padding:1px 12px 1px 0">'
        f'{html.escape(k)}</th><td style="text-align:left;padding:1px 0">{v}</td></tr>'
        for k, v in pairs
    )
    return f'<table style="border-collapse:collapse;font-size:13px">{cells}</table>'


def dispatch_html(dispatch_id: str, status: str | None, url: str | None) -> str:
    """The summary of a dispatch ID: the ID, its status if known, the dashboard link."""
    pairs = [("Dispatch", f"<code>{html.escape(dispatch_id)}</code>")]
    if status is not None:
        pairs.append(("Status", _badge(status)))
    pairs.append(("", _link(url)))
    return f'<div class="covalent-ray-dispatch">{_rows(pairs)}</div>'


def result_html(result: Any, url: str | None) -> str:
    """The summary of a ``Result``: lattice, ID, status, times, electrons, result or error."""
    from .. import _serialize

    status = result.status.value
    counts: dict[str, int] = {}
    for n in result._nodes.values():
        if n["kind"] != "parameter":  # parameters are inputs, not work
            counts[str(n["status"])] = counts.get(str(n["status"]), 0) + 1
    electrons = ", ".join(
        f'<span style="color:{_COLORS.get(s, "#000")}">{n} {html.escape(s.lower())}</span>'
        for s, n in sorted(counts.items())
    )
    duration = "—"
    if result.start_time is not None and result.end_time is not None:
        duration = f"{(result.end_time - result.start_time).total_seconds():.3f} s"
    pairs = [
        ("Lattice", f"<b>{html.escape(str(result._row['name']))}</b>"),
        ("Dispatch", f"<code>{html.escape(result.dispatch_id)}</code>"),
        ("Status", _badge(status)),
        ("Started", _time(result.start_time)),
        ("Ended", _time(result.end_time)),
        ("Duration", html.escape(duration)),
        ("Electrons", electrons or "none"),
    ]
    if result.error:
        last = str(result.error).strip().splitlines()[-1:] or [""]
        pairs.append(
            ("Error", f'<code style="color:#a51d1d">{html.escape(_short(last[0]))}</code>')
        )
    elif result.status is Status.COMPLETED:
        text = _serialize.readable(result.result)
        pairs.append(("Result", f"<code>{html.escape(_short(text))}</code>"))
    pairs.append(("", _link(url)))
    return f'<div class="covalent-ray-result">{_rows(pairs)}</div>'


class DispatchId(str):
    """A dispatch's ID as ``ct.dispatch`` returns it: a plain ``str`` everywhere, and a
    summary with a dashboard link in Jupyter."""

    _home: str | os.PathLike[str] | None = None

    @classmethod
    def of(cls, dispatch_id: str, home: str | os.PathLike[str] | None = None) -> DispatchId:
        """The ID, remembering which home's service holds it (for the link)."""
        made = cls(dispatch_id)
        made._home = home
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (sent to Ray, stored) as the plain string it is
        return (str, (str(self),))

    def _repr_html_(self) -> str:
        status = None
        try:
            from ..client.connect import connect, get

            rm = connect(self._home).result_manager
            found = get(rm.status.remote(str(self)), f"reading the status of dispatch {self}")
            status = None if found is None else str(found)
        except Exception:  # the service is away: still show the ID
            pass
        return dispatch_html(str(self), status, dashboard_url(str(self), self._home))
