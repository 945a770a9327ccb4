from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator

import pytest

from tests.support.forms import multipart
from tests.support.go_cluster import GoCluster, http


@pytest.fixture(scope="module")
def go_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoCluster]:
    """One Go master per test module (a volume server is started by each test as needed)."""
    cluster = GoCluster(str(tmp_path_factory.mktemp("go")))
    with cluster.running():
        cluster.start_master()
        yield cluster


def upload(
    url: str,
    content: bytes,
    filename: str = "",
    mime: str = "",
    headers: dict[str, str] | None = None,
) -> dict:
    body, content_type = multipart(content, filename, mime)
    status, _, reply = http("POST", url, body, {"Content-Type": content_type, **(headers or {})})
    assert status == 201, (status, reply)
    return json.loads(reply)


def gunzip_if(data: bytes, compressed: bool) -> bytes:
    return gzip.decompress(data) if compressed else data


def listing(directory: str) -> list[str]:
    return sorted(os.listdir(directory))
