"""The change feed: numbered status changes that the HTTP server's live stream long-polls.

Every change gets the next sequence number; the last ``size`` are kept. A reader asks for
the changes after the number it saw last and learns, through ``gap``, when some it never
saw have already been dropped (it should then re-read what it shows).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

FEED_SIZE = 50_000


class ChangeFeed:
    """Numbered changes, with a wait for the next one (no polling)."""

    def __init__(self, size: int = FEED_SIZE) -> None:
        self._changes: deque[tuple[int, dict[str, Any]]] = deque(maxlen=size)
        self.seq = 0
        self._news = asyncio.Event()

    def publish(self, change: dict[str, Any]) -> None:
        """Append a change and wake every waiting reader."""
        self.seq += 1
        self._changes.append((self.seq, change))
        # wake every current long-poll, then arm the event for the next ones
        self._news.set()
        self._news = asyncio.Event()

    async def since(self, since: int = 0, timeout: float = 15.0) -> dict[str, Any]:
        """Changes after sequence number ``since``, waiting up to ``timeout`` for the
        first one: ``{"seq": latest, "changes": [...], "gap": some were dropped}``."""
        if self.seq <= since:
            try:
                await asyncio.wait_for(self._news.wait(), timeout)
            except TimeoutError:
                pass
        items = [c for seq, c in self._changes if seq > since]
        oldest = self._changes[0][0] if self._changes else self.seq + 1
        return {"seq": self.seq, "changes": items, "gap": since + 1 < oldest and since > 0}
