"""The metrics registry prints what Go's promhttp prints."""

from __future__ import annotations

import pytest

from seaweed_volume.core import stats
from seaweed_volume.core.stats import Registry, exponential_buckets, go_float


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (8, "8"),
        (999999, "999999"),
        (1e6, "1e+06"),
        (1795490982, "1.795490982e+09"),
        (270553174016, "2.70553174016e+11"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (0.00021326899999999998, "0.00021326899999999998"),
        (1.048576e6, "1.048576e+06"),
        (float(2**64 - 1), "1.8446744073709552e+19"),
        (-3.5, "-3.5"),
        (float("inf"), "+Inf"),
    ],
)
def test_go_float_is_strconv_g_shortest(value: float, text: str) -> None:
    assert go_float(value) == text


def test_exposition_sorts_families_and_labels_and_cumulates_buckets() -> None:
    registry = Registry()
    requests = registry.counter("b_total", "Requests.", ("type", "code"))
    seconds = registry.histogram("a_seconds", "Time.", (0.1, 1.0), ("type",))
    registry.gauge("c_unused", "Labelled, never set.", ("x",))
    registry.gauge("d_plain", "Unlabelled.")
    requests.inc("GET", "200")
    requests.inc("GET", "200")
    requests.inc("DELETE", "404")
    seconds.observe(0.05, "GET")
    seconds.observe(0.5, "GET")
    seconds.observe(5, "GET")
    assert registry.render().splitlines() == [
        "# HELP a_seconds Time.",
        "# TYPE a_seconds histogram",
        'a_seconds_bucket{type="GET",le="0.1"} 1',
        'a_seconds_bucket{type="GET",le="1"} 2',
        'a_seconds_bucket{type="GET",le="+Inf"} 3',
        'a_seconds_sum{type="GET"} 5.55',
        'a_seconds_count{type="GET"} 3',
        "# HELP b_total Requests.",
        "# TYPE b_total counter",
        'b_total{code="200",type="GET"} 2',
        'b_total{code="404",type="DELETE"} 1',
        "# HELP d_plain Unlabelled.",
        "# TYPE d_plain gauge",
        "d_plain 0",
    ]


def test_exponential_buckets_match_prometheus() -> None:
    assert exponential_buckets(0.0001, 2, 3) == (0.0001, 0.0002, 0.0004)


def test_an_answered_request_records_what_go_records_in_separate_updates() -> None:
    """``request_answered`` updates, under one lock, exactly the series Go's handler and its
    ``ReplicatedWrite`` update one by one."""
    families = (
        stats.REQUESTS,
        stats.REQUEST_SECONDS,
        stats.REPLICATION_TARGETS,
        stats.IN_FLIGHT_REQUESTS,
    )
    saved = [_take(family) for family in families]
    try:
        stats.request_answered("PUT", "201", 0.003, 0.0004)
        stats.request_answered("GET", "404", 0.02)
        together = [_take(family) for family in families]
        stats.REQUESTS.inc("PUT", "201")
        stats.REQUEST_SECONDS.observe(0.003, "PUT")
        stats.REQUEST_SECONDS.observe(0.0004, stats.WRITE_TO_LOCAL_DISK)
        stats.REPLICATION_TARGETS.observe(0)
        stats.IN_FLIGHT_REQUESTS.touch(stats.WRITE_TO_LOCAL_DISK)
        stats.REQUESTS.inc("GET", "404")
        stats.REQUEST_SECONDS.observe(0.02, "GET")
        assert [_take(family) for family in families] == together
    finally:
        for family, state in zip(families, saved, strict=True):
            _series(family).update(state)


def _series(family) -> dict:
    return family.series if isinstance(family, stats.Histogram) else family.values


def _take(family) -> dict:
    """The family's series, leaving it with none."""
    series = _series(family)
    taken = dict(series)
    series.clear()
    return taken
