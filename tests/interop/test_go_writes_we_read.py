"""The Go volume server writes needles of many shapes; our store opens its directory."""

from __future__ import annotations

import json
import os
import random

import pytest

from seaweed_volume.core.disk_location import DiskLocation
from seaweed_volume.core.errors import AlreadyDeleted, CookieMismatch
from seaweed_volume.core.file_id import FileId
from seaweed_volume.core.needle.record import Needle
from seaweed_volume.core.needle_map.memory import MemoryNeedleMapKind
from seaweed_volume.core.needle_map.sqlite_map import SqliteNeedleMapKind
from seaweed_volume.core.store import Store
from seaweed_volume.core.types import OffsetWidth, actual_size
from tests.interop.conftest import gunzip_if, upload
from tests.support.go_cluster import GoCluster, http

rng = random.Random(42)
TEXT = b"SeaweedFS stores billions of files fast. " * 300  # compressible: Go gzips it


@pytest.fixture(scope="module")
def go_written(go_master: GoCluster, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Upload every shape through Go's HTTP API, note what Go serves, then stop Go."""
    data_dir = str(tmp_path_factory.mktemp("go_data"))
    volume = go_master.start_volume(data_dir)
    cases: dict[str, dict] = {}

    def put(
        name: str,
        content: bytes,
        filename: str = "",
        mime: str = "",
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> dict:
        assigned = go_master.assign()
        url = f"http://{assigned['url']}/{assigned['fid']}{query}"
        upload(url, content, filename, mime, headers)
        case = {
            "fid": assigned["fid"],
            "content": content,
            "filename": filename,
            "mime": mime,
            "url": url,
        }
        cases[name] = case
        return case

    put("empty", b"")
    put("one_byte", b"x")
    put("big", rng.randbytes(300 * 1024), "big.bin", "application/octet-stream")
    put("named", b"\x89PNG fake image", "picture.png", "image/png")
    put(
        "pairs",
        b"with pairs",
        "p.txt",
        "text/plain",
        headers={"Seaweed-Color": "blue", "Seaweed-Shape": "round"},
    )
    put("gzip_text", TEXT, "notes.txt", "text/plain")
    put("ttl", b"expires later", "t.txt", "text/plain", query="?ttl=5d")
    doomed = put("deleted", b"to be deleted", "d.txt")
    overwritten = put("overwritten", b"first version", "o.txt")
    upload(overwritten["url"], b"second version!", "o.txt")
    overwritten["content"] = b"second version!"
    status, _, _ = http("DELETE", doomed["url"])
    assert status == 202

    for case in cases.values():
        status, headers, body = http(
            "GET", f"{go_master.volume_url}/{case['fid']}", headers={"Accept-Encoding": "identity"}
        )
        case["go_status"], case["go_headers"], case["go_body"] = status, headers, body
    volume.stop()
    go_master.processes.remove(volume)
    return {"dir": data_dir, "cases": cases}


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, go_written: dict) -> Store:
    kind = MemoryNeedleMapKind() if request.param == "memory" else SqliteNeedleMapKind()
    location = DiskLocation(go_written["dir"], 8, needle_map_kind=kind)
    store = Store([location])
    store.load_existing_volumes()
    yield store
    store.close()


def read(store: Store, fid: str) -> Needle:
    parsed = FileId.parse(fid)
    return store.read_needle(parsed.volume_id, parsed.needle_id, cookie=parsed.cookie)


def test_go_volume_loads_with_its_5_byte_offsets(store: Store) -> None:
    volumes = store.volumes()
    assert volumes, "no volume loaded"
    for volume in volumes:
        assert volume.width == OffsetWidth.FIVE  # from .vif bytesOffset, not our default of 4
        assert not volume.is_read_only, volume.read_only_reason


def test_every_needle_reads_back_identical(store: Store, go_written: dict) -> None:
    cases = go_written["cases"]
    for name, case in cases.items():
        if name == "deleted":
            continue
        needle = read(store, case["fid"])
        assert gunzip_if(needle.data, needle.is_compressed) == case["content"], name
        assert case["go_status"] == 200, name
        assert case["go_body"] == case["content"], name  # Go gunzips for identity clients
        assert case["go_headers"]["Etag"].strip('"') == needle.etag, name
        if case["filename"]:
            assert needle.name == case["filename"].encode(), name
        if case["mime"]:
            # Go drops the generic application/octet-stream instead of storing it.
            expected = b"" if case["mime"] == "application/octet-stream" else case["mime"].encode()
            assert needle.mime == expected, name
    assert read(store, cases["gzip_text"]["fid"]).is_compressed
    assert json.loads(read(store, cases["pairs"]["fid"]).pairs) == {
        "Color": "blue",
        "Shape": "round",
    }
    assert str(read(store, cases["ttl"]["fid"]).ttl) == "5d"
    assert read(store, cases["named"]["fid"]).last_modified > 0


def test_deleted_needle_is_gone_and_cookie_is_checked(store: Store, go_written: dict) -> None:
    with pytest.raises(AlreadyDeleted):
        read(store, go_written["cases"]["deleted"]["fid"])
    fid = FileId.parse(go_written["cases"]["one_byte"]["fid"])
    with pytest.raises(CookieMismatch):
        store.read_needle(fid.volume_id, fid.needle_id, cookie=fid.cookie ^ 1)


def test_every_go_record_re_encodes_byte_for_byte(store: Store) -> None:
    """Walk each .dat record by record: our encoder reproduces Go's bytes, padding included."""
    records = 0
    for volume in store.volumes():
        position = volume.super_block.block_size
        end = volume.dat_size()
        while position < end:
            header = volume.dat.read_at(16, position)
            size = int.from_bytes(header[12:16], "big")
            raw = volume.dat.read_at(actual_size(size, volume.version), position)
            needle = Needle.from_bytes(raw, volume.version)
            assert needle.to_bytes(volume.version) == raw, f"record at {position}"
            position += len(raw)
            records += 1
    assert records >= 10


def test_counts_match_go_status(store: Store, go_written: dict) -> None:
    """Our counters equal what Go reported for the same files, per volume."""
    files = {v.id: v.file_count - v.deleted_count for v in store.volumes()}
    assert sum(files.values()) == len(go_written["cases"]) - 1
    assert os.path.exists(os.path.join(go_written["dir"], "vol_dir.uuid"))
