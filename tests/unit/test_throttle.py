"""In-flight byte limits and Go duration strings."""

from __future__ import annotations

import asyncio

import pytest

from seaweed_volume.adapters.http.throttle import InflightLimit, parse_go_duration


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
