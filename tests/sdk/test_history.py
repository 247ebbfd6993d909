"""Reading `--since` times: durations ago and ISO times, as naive UTC like the database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from covalent_ray.sdk.history import parse_since

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("30m", datetime(2026, 12, 2, 11, 30)),
        ("2h", datetime(2026, 12, 2, 10, 0)),
        ("1.5d", datetime(2026, 12, 1, 0, 0)),
        ("1w", datetime(2026, 11, 25, 12, 0)),
        ("90s", datetime(2026, 12, 2, 11, 58, 30)),
        ("2026-12-01", datetime(2026, 12, 1)),
        ("2026-12-01T08:15", datetime(2026, 12, 1, 8, 15)),
        ("2026-12-01T08:15+01:00", datetime(2026, 12, 1, 7, 15)),
    ],
)
def test_since(text: str, expected: datetime) -> None:
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "5 parsecs", "-2h", ""])
def test_unreadable_since_says_what_works(text: str) -> None:
    with pytest.raises(ValueError, match="30m, 2h or 7d"):
        parse_since(text, now=NOW)
