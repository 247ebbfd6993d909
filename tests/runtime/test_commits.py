"""Group commits and the change feed, driven without Ray or a database."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from covalent_ray.runtime.changes import ChangeFeed
from covalent_ray.runtime.commits import GroupCommitter


def test_calls_queued_while_a_commit_runs_share_the_next_one() -> None:
    written: list[list[int]] = []
    first_started = threading.Event()
    release = threading.Event()

    def write(batch: list[int]) -> None:
        if not written:
            first_started.set()
            assert release.wait(30), "the test never released the first write"
        written.append(list(batch))

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1) as pool:
            committer: GroupCommitter[list[int]] = GroupCommitter(list, write, pool)
            committer.batch.append(0)
            first = asyncio.ensure_future(committer.commit())
            await loop.run_in_executor(None, first_started.wait, 30)
            later = []
            for i in range(1, 6):  # queued while the first write is still running
                committer.batch.append(i)
                later.append(asyncio.ensure_future(committer.commit()))
            await asyncio.sleep(0)
            release.set()
            await asyncio.gather(first, *later)
            assert committer.stats.commits == 2

    asyncio.run(scenario())
    assert written == [[0], [1, 2, 3, 4, 5]]


def test_a_failed_write_is_raised_in_its_callers_and_the_next_commit_works() -> None:
    written: list[list[str]] = []

    def write(batch: list[str]) -> None:
        if "bad" in batch:
            raise RuntimeError("disk full")
        written.append(list(batch))

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as pool:
            committer: GroupCommitter[list[str]] = GroupCommitter(list, write, pool)
            committer.batch.append("bad")
            with pytest.raises(RuntimeError, match="disk full"):
                await committer.commit()
            committer.batch.append("good")
            await committer.commit()

    asyncio.run(scenario())
    assert written == [["good"]]


def test_the_change_feed_numbers_changes_and_wakes_a_waiting_reader() -> None:
    async def scenario() -> None:
        feed = ChangeFeed(size=3)
        waiting = asyncio.ensure_future(feed.since(0, timeout=30))
        await asyncio.sleep(0)
        feed.publish({"n": 1})
        assert await waiting == {"seq": 1, "changes": [{"n": 1}], "gap": False}
        for n in range(2, 6):
            feed.publish({"n": n})
        # only the last three are kept: a reader at 1 missed 2
        assert await feed.since(1, timeout=0) == {
            "seq": 5,
            "changes": [{"n": 3}, {"n": 4}, {"n": 5}],
            "gap": True,
        }
        assert await feed.since(4, timeout=0) == {"seq": 5, "changes": [{"n": 5}], "gap": False}
        assert await feed.since(5, timeout=0) == {"seq": 5, "changes": [], "gap": False}

    asyncio.run(scenario())
