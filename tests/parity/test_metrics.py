"""Differential: Prometheus ``/metrics`` on ``-metricsPort`` after the same requests.

Both servers get the same mix of reads, writes, deletes and bad requests; the volume-server
series must then be the same (names and labels, with the data directory blanked out), and the
counters must agree. Timings, sizes and disk figures are compared by presence only.
"""

from __future__ import annotations

import pytest

from tests.support.go_cluster import free_port_pair, http, wait_until
from tests.support.pair import go_and_ours

PREFIX = "SeaweedFS_volumeServer_"
VALUE_COMPARED = (
    "request_total",
    "handler_total",
    "file_read_failures",
    "file_read_invalid_needles",
    "file_write_failures",
    "volumes",
    "read_only_volumes",
    "max_volumes",
    "in_flight_requests",
    "concurrent_upload_limit",
    "concurrent_download_limit",
    "replication_targets_count",
    "replication_targets_bucket",
    "request_seconds_count",
    "io_quarantine",
    "storage_io_error_total",
)


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory):
    go_metrics, our_metrics = free_port_pair(), free_port_pair()
    with go_and_ours(
        str(tmp_path_factory.mktemp("metrics")),
        go_flags=[f"-metricsPort={go_metrics}"],
        our_flags=[f"-metricsPort={our_metrics}", "-offsetBytes=5"],
    ) as urls:
        yield urls, (f"http://127.0.0.1:{go_metrics}", f"http://127.0.0.1:{our_metrics}")


REQUESTS = [
    ("POST", "/1,010000abcd?ts=1700000000", b"metered", {"Content-Type": "text/plain"}),
    ("GET", "/1,010000abcd", None, {}),
    ("HEAD", "/1,010000abcd", None, {}),
    ("GET", "/1,010000abce", None, {}),  # wrong cookie
    ("GET", "/1,7f0000abcd", None, {}),  # no such needle
    ("GET", "/1,zz", None, {}),  # malformed
    ("GET", "/77,010000abcd", None, {}),  # no such volume anywhere
    ("OPTIONS", "/1,010000abcd", None, {}),
    ("PATCH", "/1,010000abcd", None, {}),
    ("POST", "/x,010000abcd", b"x", {"Content-Type": "text/plain"}),  # bad volume id
    ("PUT", "/1,020000abcd", b"abc", {"Content-Type": "text/plain", "Content-MD5": "AAAA"}),
    ("PUT", "/1,030000abcd", b"to delete", {"Content-Type": "text/plain"}),
    ("DELETE", "/1,030000abcd", None, {}),
    ("GET", "/1,030000abcd", None, {}),  # deleted
    ("DELETE", "/1,7e0000abcd", None, {}),
    ("GET", "/status", None, {}),  # not a file handler: not counted
]


def _scrape(url: str) -> dict[str, str]:
    status, headers, body = http("GET", f"{url}/metrics")
    assert status == 200
    series = {}
    for line in body.decode().splitlines():
        if line.startswith(PREFIX):
            name, value = line.rsplit(" ", 1)
            series[name] = value
    return series


def _normalised(series: dict[str, str], data_dir: str) -> dict[str, str]:
    return {name.replace(data_dir, "DIR"): value for name, value in series.items()}


def _compared(series: dict[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in series.items()
        if name[len(PREFIX) :].split("{")[0] in VALUE_COMPARED
    }


def test_metrics_match_go_after_the_same_requests(metered) -> None:
    (go_url, our_url), (go_metrics, our_metrics) = metered
    for method, path, body, headers in REQUESTS:
        go = http(method, go_url + path, body, headers)
        ours = http(method, our_url + path, body, headers)
        assert ours[0] == go[0], (method, path)

    dirs = {}
    for name, url in (("go", go_url), ("ours", our_url)):
        import json

        dirs[name] = json.loads(http("GET", f"{url}/status")[2])["DiskStatuses"][0]["dir"]

    def same_series() -> tuple[dict[str, str], dict[str, str]] | None:
        go = _normalised(_scrape(go_metrics), dirs["go"])
        ours = _normalised(_scrape(our_metrics), dirs["ours"])
        # Go publishes the per-collection disk figures on its next heartbeat: wait for them.
        return (go, ours) if set(go) == set(ours) else None

    try:
        go, ours = wait_until(same_series, timeout=20, what="the same metric series")
    except TimeoutError:
        go = _normalised(_scrape(go_metrics), dirs["go"])
        ours = _normalised(_scrape(our_metrics), dirs["ours"])
        assert sorted(set(ours) ^ set(go)) == []
    assert _compared(ours) == _compared(go)
    assert ours[f'{PREFIX}request_total{{code="201",type="POST"}}'] == "1"


def test_metrics_port_answers_like_go_elsewhere(metered) -> None:
    _, (go_metrics, our_metrics) = metered
    for path in ("/", "/other", "/metrics/x"):
        go = http("GET", go_metrics + path)
        ours = http("GET", our_metrics + path)
        assert (ours[0], ours[2]) == (go[0], go[2]), path
    go_type = http("GET", go_metrics + "/metrics")[1]["Content-Type"]
    assert http("GET", our_metrics + "/metrics")[1]["Content-Type"] == go_type
    build = [line for line in http("GET", our_metrics + "/metrics")[2].decode().splitlines()]
    assert any(line.startswith("SeaweedFS_build_info{") for line in build)
    assert any(line.startswith("process_resident_memory_bytes ") for line in build)
