"""Differential: JWT checks from security.toml, Go's volume server against ours."""

from __future__ import annotations

import os
import time

import jwt
import pytest

from tests.support.compare import assert_same
from tests.support.go_cluster import http
from tests.support.pair import go_and_ours

pytestmark = pytest.mark.hardening  # also one of the hardening probes

WRITE_KEY = "parity-write-key-0123456789abcdef"
READ_KEY = "parity-read-key-0123456789abcdef"
SECURITY = f"""
[jwt.signing]
key = "{WRITE_KEY}"
expires_after_seconds = 10

[jwt.signing.read]
key = "{READ_KEY}"
expires_after_seconds = 10
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    root = str(tmp_path_factory.mktemp("jwt"))
    security = os.path.join(root, "security.toml")
    with open(security, "w") as out:
        out.write(SECURITY)
    # Go reads ./security.toml from its working directory; ours is told where it is.
    with go_and_ours(root, cwd=root, our_flags=[f"-securityFile={security}"]) as urls:
        yield urls


def token(key: str, fid: str, **claims: int) -> str:
    return jwt.encode({"fid": fid, "exp": int(time.time()) + 60, **claims}, key, algorithm="HS256")


def both(servers, method: str, path: str, body: bytes | None = None, headers=None):
    go_url, our_url = servers
    return (
        http(method, go_url + path, body, headers or {}),
        http(method, our_url + path, body, headers or {}),
    )


FID = "1,0a000000ff"
TEXT = {"Content-Type": "application/x-jwt"}


def test_writes_need_the_write_key(servers) -> None:
    good = token(WRITE_KEY, FID)
    cases = [
        ("no token", f"/{FID}", {}),
        ("read key", f"/{FID}?jwt={token(READ_KEY, FID)}", {}),
        ("other fid", f"/{FID}?jwt={token(WRITE_KEY, '1,0b000000ff')}", {}),
        ("expired", f"/{FID}?jwt={token(WRITE_KEY, FID, exp=int(time.time()) - 5)}", {}),
        ("not yet", f"/{FID}?jwt={token(WRITE_KEY, FID, nbf=int(time.time()) + 300)}", {}),
        ("garbage", f"/{FID}?jwt=abc.def.ghi", {}),
        ("query", f"/{FID}?jwt={good}", {}),
        ("bearer", f"/{FID}", {"Authorization": f"Bearer {good}"}),
        ("cookie", f"/{FID}", {"Cookie": f"AT={good}"}),
        ("delta suffix", f"/{FID}_1?jwt={good}", {}),
    ]
    statuses = {}
    for what, path, headers in cases:
        go, ours = both(servers, "PUT", path, b"secret", {**TEXT, **headers})
        assert_same(go, ours, what)
        statuses[what] = go[0]
    # The check is really on: Go refuses without a good token and accepts with one.
    assert statuses["no token"] == 401 and statuses["expired"] == 401
    assert statuses["query"] in (201, 204) and statuses["bearer"] in (201, 204)


def test_reads_and_deletes(servers) -> None:
    fid = "1,0c000000ff"
    both(servers, "PUT", f"/{fid}?jwt={token(WRITE_KEY, fid)}", b"guarded", TEXT)
    for what, path in (
        ("read without token", f"/{fid}"),
        ("read with write key", f"/{fid}?jwt={token(WRITE_KEY, fid)}"),
        ("read with read key", f"/{fid}?jwt={token(READ_KEY, fid)}"),
    ):
        go, ours = both(servers, "GET", path)
        assert_same(go, ours, what)
    for what, path in (
        ("delete without token", f"/{fid}"),
        ("delete with token", f"/{fid}?jwt={token(WRITE_KEY, fid)}"),
    ):
        go, ours = both(servers, "DELETE", path)
        assert_same(go, ours, what)
