"""Differential: needles over Go's 1 MiB paged-read limit, which both servers stream from disk
instead of reading whole (GET, ranges, HEAD), against the Go 4.48 volume server."""

from __future__ import annotations

import random

import pytest

from tests.parity.test_basic_data_path import TS, _normalise_boundary, both
from tests.support.compare import assert_same
from tests.support.forms import multipart
from tests.support.pair import go_and_ours

SIZE = 3 * 1024 * 1024 + 123
CONTENT = random.Random(7).randbytes(SIZE)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    with go_and_ours(str(tmp_path_factory.mktemp("large"))) as urls:
        yield urls


@pytest.fixture(scope="module")
def stored(servers) -> dict[str, str]:
    fids = {"named": "1,500000abcd", "raw": "1,510000abcd", "paired": "1,520000abcd"}
    body, content_type = multipart(CONTENT, "big.bin", "application/x-big")
    go, ours = both(
        servers, "POST", f"/{fids['named']}?ts={TS}", body, {"Content-Type": content_type}
    )
    assert_same(go, ours, "upload named")
    # No Content-Type: served with a type sniffed from the first bytes.
    go, ours = both(
        servers, "PUT", f"/{fids['raw']}?ts={TS}", b"%PDF-1.4\n" + CONTENT, {"Content-Type": ""}
    )
    assert_same(go, ours, "upload raw")
    go, ours = both(
        servers,
        "PUT",
        f"/{fids['paired']}?ts={TS}",
        CONTENT,
        {"Content-Type": "image/x-thing", "Seaweed-Color": "blue"},
    )
    assert_same(go, ours, "upload paired")
    return fids


CASES = [
    ("whole", "", {}),
    ("dl", "?dl=1", {}),
    ("response header", "?response-content-type=text%2Fplain", {}),
    ("first bytes", "", {"Range": "bytes=0-99"}),
    ("middle", "", {"Range": "bytes=1048570-2097160"}),
    ("open", "", {"Range": "bytes=3145000-"}),
    ("suffix", "", {"Range": "bytes=-1000"}),
    ("two ranges", "", {"Range": "bytes=0-9,2097152-2097200"}),
    ("past the end", "", {"Range": f"bytes={SIZE + 9}-"}),
    ("not modified", "", {"If-Modified-Since": "Tue, 14 Nov 2023 22:13:20 GMT"}),
]


@pytest.mark.parametrize("name", ["named", "raw", "paired"])
@pytest.mark.parametrize(("case", "query", "headers"), CASES, ids=[c[0] for c in CASES])
def test_large_reads_match(servers, stored, name, case, query, headers) -> None:
    go, ours = both(servers, "GET", f"/{stored[name]}{query}", headers=headers)
    assert_same(_normalise_boundary(go), _normalise_boundary(ours), f"{name} {case}")


@pytest.mark.parametrize("name", ["named", "raw", "paired"])
def test_large_head_matches(servers, stored, name) -> None:
    go, ours = both(servers, "HEAD", f"/{stored[name]}")
    assert_same(go, ours, f"HEAD {name}")


def test_large_body_arrives_whole(servers, stored) -> None:
    _, ours = both(servers, "GET", f"/{stored['named']}")
    assert ours[2] == CONTENT
