"""Differential: JWT checks from security.toml, Go's volume server against ours."""

from __future__ import annotations

import json
import os
import time

import jwt
import pytest

from tests.parity.test_basic_data_path import assert_same
from tests.support.go_cluster import GoCluster, http, wait_until
from tests.support.our_server import OurServer

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
    go = GoCluster(os.path.join(root, "go"), cwd=root)
    mine = GoCluster(os.path.join(root, "mine"), cwd=root)
    for cluster in (go, mine):
        os.makedirs(os.path.join(cluster.workdir, "data"))
    ours = None
    try:
        go.start_master()
        go.start_volume(os.path.join(go.workdir, "data"))
        mine.start_master()
        ours = OurServer(
            os.path.join(mine.workdir, "data"),
            mine.master_port,
            os.path.join(mine.workdir, "ours.log"),
            extra=[f"-securityFile={security}"],
        )
        ours.start()
        ours.wait_registered(mine.master_url)
        for cluster, url in ((go, go.volume_url), (mine, ours.url)):
            http("GET", f"{cluster.master_url}/vol/grow?count=1")

            def has_volume_1(url: str = url) -> bool:
                volumes = json.loads(http("GET", f"{url}/status")[2])["Volumes"] or []
                return any(v["Id"] == 1 for v in volumes)

            wait_until(has_volume_1, what="volume 1")
        yield go.volume_url, ours.url
    finally:
        if ours is not None:
            ours.stop()
        go.stop()
        mine.stop()


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
