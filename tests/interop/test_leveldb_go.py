"""``-index=leveldb``: a volume directory with Go's ``<vid>.ldb/`` needle map moves both ways.

Go 4.48 writes a directory with ``-index=leveldb``; ours opens it with every needle and
deletion intact and leaves the map as Go wrote it. Ours writes one; Go opens it, trusting our
map as it stands (its ``LOG`` is made newer than the ``.idx``, so Go does not replay the
``.idx`` into it) and serves every needle and deletion from it.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import plyvel
import pytest

from seaweed_volume.core.idx import parse_columns
from seaweed_volume.core.needle_map.leveldb_map import WATERMARK_KEY
from seaweed_volume.core.types import OffsetWidth, encode_offset
from tests.interop.conftest import upload
from tests.support.go_cluster import GoCluster, http
from tests.support.our_server import OurServer

WIDTH = OffsetWidth.FIVE  # the PyPI weed is a 5-byte build


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[GoCluster]:
    """A fresh Go master per test: the volume ids of one test mean nothing to the next."""
    go = GoCluster(str(tmp_path / "go"))
    with go.running():
        go.start_master()
        yield go


def _write_files(cluster: GoCluster, count: int, deletes: int) -> dict[str, bytes | None]:
    """Upload ``count`` files through the master's assignments (a tenth overwritten), delete
    ``deletes`` of them; returns fid -> content, ``None`` once deleted."""
    rng = random.Random(count)
    files: dict[str, bytes | None] = {}
    for i in range(count):
        assigned = cluster.assign()
        content = rng.randbytes(rng.randrange(1, 3000))
        url = f"http://{assigned['url']}/{assigned['fid']}"
        upload(url, content, f"f{i}.bin", "application/octet-stream")
        if i % 10 == 0:
            content = b"overwritten " + content
            upload(url, content, f"f{i}.bin", "application/octet-stream")
        files[url] = content
    for url in rng.sample(sorted(files), deletes):
        assert http("DELETE", url)[0] == 202
        files[url] = None
    return files


def _expected_map(base: str) -> dict[bytes, bytes]:
    """What Go's map holds after serving the ``.idx``'s history: each needle's last write,
    a deleted one with its size negated (Go's ``Delete``), as raw LevelDB pairs."""
    raw = Path(base + ".idx").read_bytes()
    columns = parse_columns(raw, WIDTH)
    state: dict[int, tuple[int, int]] = {}
    for key, unit, size in zip(
        columns.keys.tolist(), columns.offsets.tolist(), columns.sizes.tolist(), strict=True
    ):
        if unit != 0 and size >= 0:
            state[key] = (unit * 8, size)
        elif key in state and state[key][1] > 0:
            state[key] = (state[key][0], -state[key][1])
    return {
        key.to_bytes(8, "big"): encode_offset(offset, WIDTH)
        + (size & 0xFFFFFFFF).to_bytes(4, "big")
        for key, (offset, size) in state.items()
    }


def _stored_map(base: str) -> dict[bytes, bytes]:
    db = plyvel.DB(base + ".ldb")
    try:
        return {key: value for key, value in db.iterator() if key != WATERMARK_KEY}
    finally:
        db.close()


def _volume_bases(data_dir: str) -> list[str]:
    bases = [os.path.join(data_dir, n[:-4]) for n in os.listdir(data_dir) if n.endswith(".idx")]
    assert bases, os.listdir(data_dir)
    return sorted(bases)


def _assert_serves(base_url: str, files: dict[str, bytes | None]) -> None:
    for url, content in files.items():
        fid = url.rsplit("/", 1)[1]
        status, _, body = http("GET", f"{base_url}/{fid}", headers={"Accept-Encoding": "identity"})
        if content is None:
            assert status == 404, (fid, status)
            status, _, body = http("GET", f"{base_url}/{fid}?readDeleted=true")
            assert status == 200, (fid, status)  # the deleted entry kept its offset
        else:
            assert (status, body) == (200, content), fid


def test_go_leveldb_volume_opens_here(cluster: GoCluster, tmp_path: Path) -> None:
    data_dir = str(tmp_path / "go_data")
    os.makedirs(data_dir)
    go_volume = cluster.start_volume(data_dir, ["-index=leveldb"])
    files = _write_files(cluster, 300, 20)
    go_volume.stop()
    cluster.processes.remove(go_volume)

    bases = _volume_bases(data_dir)
    go_maps = {}
    for base in bases:
        assert os.path.isfile(base + ".ldb/CURRENT"), base
        go_maps[base] = _stored_map(base)
        assert go_maps[base] == _expected_map(base), base  # the layout we rely on
    assert any(
        int.from_bytes(v[-4:], "big", signed=True) < 0 for m in go_maps.values() for v in m.values()
    )

    ours = OurServer(
        data_dir,
        cluster.master_port,
        str(tmp_path / "ours.log"),
        extra=["-index=leveldb", "-offsetBytes=5"],
    )
    ours.start()
    try:
        _assert_serves(ours.url, files)
    finally:
        assert ours.stop() == 0
    for base in bases:
        assert _stored_map(base) == go_maps[base], base


def test_our_leveldb_volume_opens_in_go(cluster: GoCluster, tmp_path: Path) -> None:
    data_dir = str(tmp_path / "our_data")
    ours = OurServer(
        data_dir,
        cluster.master_port,
        str(tmp_path / "ours.log"),
        extra=["-index=leveldb", "-offsetBytes=5"],
    )
    ours.start()
    try:
        ours.wait_registered(cluster.master_url)
        files = _write_files(cluster, 200, 15)
    finally:
        assert ours.stop() == 0

    for base in _volume_bases(data_dir):
        assert _stored_map(base) == _expected_map(base), base
        # Go replays the .idx into a map whose LOG is older than the .idx; make ours newer
        # so Go serves from our map exactly as we left it.
        idx_mtime = os.stat(base + ".idx").st_mtime
        os.utime(base + ".ldb/LOG", (idx_mtime + 60, idx_mtime + 60))

    go_volume = cluster.start_volume(data_dir, ["-index=leveldb"])
    _assert_serves(cluster.volume_url, files)
    go_volume.stop()
