"""Looking back over dispatches and following one as it runs (the CLI's ``list`` and
``result --wait`` use these).

Both read through the result manager: listing is one query, and following is the change
feed's long poll, so a watcher wakes when something changes and never polls.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from .._exceptions import MissingDispatchError
from .._status import Status
from ..core.progress import Progress

#: How long one long poll of the change feed waits before asking again
FEED_WAIT_S = 10.0

_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``"90m"``, ``"2h"``, ``"7d"`` (that long ago) or an ISO date/time (UTC unless it
    says otherwise), as the naive UTC time the database stores."""
    now = now or datetime.now(UTC)
    match = _AGO.match(text)
    if match:
        amount, unit = float(match[1]), _UNITS[match[2]]
        moment = now - timedelta(**{unit: amount})
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(
                f"cannot read {text!r} as a time: give a duration such as 30m, 2h or 7d, "
                "or an ISO date such as 2026-12-01 or 2026-12-01T08:00"
            ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None)


def _manager(home: str | os.PathLike[str] | None) -> Any:
    from ..client.connect import connect

    return connect(home).result_manager


def list_dispatches(
    *,
    status: Sequence[str] | None = None,
    name: str | None = None,
    since: datetime | str | None = None,
    limit: int = 20,
    root_only: bool = False,
    home: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """The most recent dispatches first, each with its electron counts by status.

    ``status`` keeps those in any of the given statuses, ``name`` those whose lattice name
    contains it (case-insensitive), ``since`` those created since then (a duration such as
    ``"2h"``, an ISO time or a datetime).
    """
    from ..client.connect import get

    statuses = [Status(s.upper()).value for s in status] if status else None
    if isinstance(since, str):
        since = parse_since(since)
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    page = get(
        _manager(home).list_dispatches.remote(
            status=statuses, name=name, since=since, limit=limit, root_only=root_only
        ),
        "listing dispatches",
    )
    return list(page["items"])


def watch(dispatch_id: str, *, home: str | os.PathLike[str] | None = None) -> Iterator[Progress]:
    """Yield the dispatch's progress now and after every change, until it has ended.

    The feed's cursor is taken before the graph is read, so no change between the two is
    missed; one seen twice changes nothing (see :class:`~covalent_ray.core.progress.Progress`).
    """
    from ..client.connect import get

    rm = _manager(home)
    what = f"following dispatch {dispatch_id}"

    def snapshot() -> tuple[int, Progress]:
        # asking for changes after an unreachable number answers at once with the cursor
        cursor = int(get(rm.changes.remote(2**62, 0.0), what)["seq"])
        status = get(rm.status.remote(dispatch_id), what)
        view = get(rm.graph_view.remote(dispatch_id), what)
        if status is None or view is None:
            raise MissingDispatchError(
                f"no dispatch {dispatch_id} in this service; `covalent-ray list` shows the "
                "recent ones"
            )
        return cursor, Progress.from_nodes(dispatch_id, status, view["nodes"])

    cursor, progress = snapshot()
    yield progress
    while not progress.ended:
        batch = get(rm.changes.remote(cursor, FEED_WAIT_S), what)
        if batch["seq"] < cursor or batch["gap"]:
            # the service restarted or the feed dropped changes: read the state again
            cursor, progress = snapshot()
            yield progress
            continue
        cursor = int(batch["seq"])
        if progress.apply(batch["changes"]):
            yield progress
