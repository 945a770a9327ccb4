"""A data directory holding volumes of both offset widths: Go 4.48 (a 5-byte build) writes one,
ours with ``-offsetBytes=4`` the other. Ours loads and serves both whatever ``-offsetBytes``
says, and warns once per width that differs, naming the volumes (a Go server of the other
width exits on them: ``BytesOffset mismatch``, weed/storage/volume_tier.go)."""

from __future__ import annotations

import json
import os

from tests.support.go_cluster import GoCluster, http, wait_until
from tests.support.our_server import OurServer


def _write(go: GoCluster, collection: str, data: bytes) -> tuple[str, str]:
    """Grow a volume of ``collection`` and write ``data`` to it; returns (fid, volume base)."""
    grow = f"{go.master_url}/vol/grow?count=1&collection={collection}"
    wait_until(lambda: http("GET", grow)[0] == 200, what="the master to grow a volume")
    assigned = go.assign(collection=collection)
    fid = assigned["fid"]
    headers = {"Content-Type": "application/octet-stream"}
    assert http("POST", f"http://{assigned['url']}/{fid}", data, headers)[0] == 201
    return fid, f"{collection}_{fid.split(',')[0]}"


def _width(data_dir: str, base: str) -> int:
    with open(os.path.join(data_dir, base + ".vif")) as src:
        return json.load(src)["bytesOffset"]


def test_both_widths_load_and_the_other_one_is_warned_about(tmp_path) -> None:
    workdir = str(tmp_path)
    data_dir = os.path.join(workdir, "data")
    os.makedirs(data_dir)
    go = GoCluster(workdir)
    with go.running():
        go.start_master()
        volume = go.start_volume(data_dir)
        five_fid, five = _write(go, "five", b"written by Go")
        volume.stop()

        log_path = os.path.join(workdir, "ours.log")
        ours = OurServer(data_dir, go.master_port, log_path, extra=["-offsetBytes=4"])
        ours.start()
        try:
            ours.wait_registered(go.master_url, volumes=1)
            four_fid, four = _write(go, "four", b"written by ours")
        finally:
            ours.stop()
        assert (_width(data_dir, five), _width(data_dir, four)) == (5, 4)

        for flag, other, other_width in (("-offsetBytes=4", five, 5), ("-offsetBytes=5", four, 4)):
            start = os.path.getsize(log_path)
            ours.extra = [flag]
            ours.start()
            try:
                for fid, data in ((five_fid, b"written by Go"), (four_fid, b"written by ours")):
                    assert http("GET", f"{ours.url}/{fid}")[:3:2] == (200, data), flag
            finally:
                ours.stop()
            with open(log_path, errors="replace") as src:
                src.seek(start)
                warnings = [line for line in src if "-byte offsets" in line and "WARN" in line]
            assert len(warnings) == 1, warnings
            assert f"volumes {other} use {other_width}-byte offsets" in warnings[0], warnings
            assert f"-offsetBytes={9 - other_width}" in warnings[0], warnings
