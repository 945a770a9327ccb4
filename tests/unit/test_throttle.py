"""In-flight byte limits and Go duration strings."""

from __future__ import annotations

import asyncio
import multiprocessing
import os

import pytest

from seaweed_volume.adapters.http.throttle import InflightLimit, SharedSlots, parse_go_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2s", 2.0), ("1m0s", 60.0), ("1.5h", 5400.0), ("250ms", 0.25), ("0", 0.0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == seconds


def test_bad_duration() -> None:
    with pytest.raises(ValueError, match='time: invalid duration "5 seconds"'):
        parse_go_duration("5 seconds")


def test_waiters_proceed_when_bytes_drain_and_time_out_otherwise() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        limit = InflightLimit(limit_bytes=100, timeout_seconds=0.2)
        limit.add(150)
        timed_out = await limit.wait_below()
        waiter = asyncio.create_task(InflightLimit.wait_below(limit))
        await asyncio.sleep(0)
        limit.release(150)
        drained = await waiter
        limit.add(500)
        own_only = await limit.wait_below(own=500)  # a lone big upload is not throttled
        return timed_out, drained, own_only

    assert asyncio.run(scenario()) == (False, True, True)


def _hold(shared, ready, release, clean: bool) -> None:
    limit = InflightLimit(100, 5.0, shared=shared, slot=1)
    limit.add(150)
    ready.set()
    if clean:
        release.wait(30)
        limit.release(150)
    else:
        os._exit(0)  # dies holding its bytes


def test_the_limit_holds_for_the_whole_server_across_processes() -> None:
    context = multiprocessing.get_context("fork")
    shared = SharedSlots(2)
    mine = InflightLimit(100, 5.0, shared=shared, slot=0)
    ready, release = context.Event(), context.Event()
    other = context.Process(target=_hold, args=(shared, ready, release, True))
    other.start()
    assert ready.wait(30)
    assert mine.over and mine.in_flight == 150  # another process's bytes count here

    async def wait_then_release() -> bool:
        waiting = asyncio.create_task(mine.wait_below())
        await asyncio.sleep(0)
        assert not waiting.done()
        release.set()
        return await waiting

    assert asyncio.run(wait_then_release())
    other.join(30)
    assert mine.in_flight == 0


def test_a_dead_process_bytes_are_cleared_by_its_replacement() -> None:
    context = multiprocessing.get_context("fork")
    shared = SharedSlots(2)
    mine = InflightLimit(100, 5.0, shared=shared, slot=0)
    ready = context.Event()
    dying = context.Process(target=_hold, args=(shared, ready, None, False))
    dying.start()
    dying.join(30)
    assert mine.over
    InflightLimit(100, 5.0, shared=shared, slot=1)  # the replacement takes the slot
    assert not mine.over
