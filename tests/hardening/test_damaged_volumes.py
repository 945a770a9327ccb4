"""Damaged volume files: Go 4.48 and ours open the same damage the same way.

Go's volume server writes volume 1 (ten files, a delete, one more file). Each case copies that
directory, damages the copy once, and copies it again for Go's ``weed volume`` and for ours,
each under its own Go master (so neither proxies a read to the other). Both must then serve
the same ``/status`` volumes, the same answer to every read and to a new write, and leave the
same files behind (``.idx`` and ``.vif`` byte for byte). For three kinds of ``.idx`` damage ours
knowingly does better than Go: there it must serve everything Go serves, and every needle.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from seaweed_volume.core.idx import decode_entry, encode_entry
from seaweed_volume.core.types import NEEDLE_HEADER_SIZE, OffsetWidth
from tests.support.compare import assert_same
from tests.support.go_cluster import GoCluster, http, wait_until
from tests.support.our_server import OurServer

pytestmark = pytest.mark.hardening

COOKIE = "0000abcd"
LAST_KEY = 0xB
STRAY_KEY = 0x20
"""The key of the index entry that points past the end of ``.dat``."""
DELETED_KEY = 3
NEW_FID = f"1,ff{COOKIE}"
WIDTH = OffsetWidth.FIVE  # the PyPI weed is a 5-byte build


def fid(key: int) -> str:
    return f"1,{key:x}{COOKIE}"


def content(key: int) -> bytes:
    return f"content of needle {key} ".encode() * 20


@dataclass
class Clusters:
    go: GoCluster
    """Its master hosts Go's volume server."""
    mine: GoCluster
    """Its master hosts ours."""
    source: str
    """Volume 1 as Go wrote it."""
    root: str


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clusters]:
    root = str(tmp_path_factory.mktemp("damaged"))
    go = GoCluster(os.path.join(root, "go"))
    mine = GoCluster(os.path.join(root, "mine"))
    for cluster in (go, mine):
        os.makedirs(cluster.workdir)
    source = os.path.join(root, "source")
    os.makedirs(source)
    try:
        go.start_master()
        mine.start_master()
        writer = go.start_volume(source, extra=["-preStopSeconds=0"])
        # The master grows once the volume server's first heartbeat has reached it.
        grow = f"{go.master_url}/vol/grow?count=1"
        wait_until(lambda: http("GET", grow)[0] == 200, what="the master to grow a volume")
        wait_until(lambda: _volume_ids(go.volume_url) == [1], what="volume 1 on Go's server")
        for key in range(1, LAST_KEY):
            assert _post(go.volume_url, fid(key), content(key))[0] == 201
        assert http("DELETE", f"{go.volume_url}/{fid(DELETED_KEY)}")[0] == 202
        assert _post(go.volume_url, fid(LAST_KEY), content(LAST_KEY))[0] == 201
        writer.stop()
        go.processes.remove(writer)
        yield Clusters(go, mine, source, root)
    finally:
        go.stop()
        mine.stop()


def _post(url: str, file_id: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    return http("POST", f"{url}/{file_id}", body, {"Content-Type": "application/x-test"})


def _volume_ids(url: str) -> list[int]:
    return [v["Id"] for v in json.loads(http("GET", f"{url}/status")[2])["Volumes"] or []]


# --- the damage, done once to a copy of the source ------------------------------------------
def drop_index(base: str) -> None:
    os.remove(base + ".idx")


def garbage_info(base: str) -> None:
    # A leading NUL makes Python's json guess UTF-16: the message the old code failed with.
    with open(base + ".vif", "wb") as out:
        out.write(b"\x00" + random.Random(7).randbytes(63))


def empty_data(base: str) -> None:
    with open(base + ".dat", "r+b") as dat:
        dat.truncate(0)


def keep_only_data(base: str) -> None:
    os.remove(base + ".idx")
    os.remove(base + ".vif")


def short_data(base: str) -> None:
    with open(base + ".dat", "r+b") as dat:
        dat.truncate(5)


def unfinished_copy_note(base: str) -> None:
    with open(base + ".note", "w") as note:
        note.write("copying from 127.0.0.1:1")


def drop_info(base: str) -> None:
    os.remove(base + ".vif")


def read_only_info(base: str) -> None:
    with open(base + ".vif") as src:
        info = src.read()
    assert '"readOnly":  false' in info
    with open(base + ".vif", "w") as out:
        out.write(info.replace('"readOnly":  false', '"readOnly":  true'))


def truncate_last_needle(base: str) -> None:
    size = os.path.getsize(base + ".dat")
    with open(base + ".dat", "r+b") as dat:
        dat.truncate(size - 40)


def bad_crc_in_last_needle(base: str) -> None:
    with open(base + ".idx", "rb") as idx:
        last = decode_entry(idx.read()[-WIDTH.entry_size :], WIDTH)
    assert last.needle_id == LAST_KEY and last.size > 0
    data_at = last.offset + NEEDLE_HEADER_SIZE + 4 + 10  # past the data size field
    with open(base + ".dat", "r+b") as dat:
        dat.seek(data_at)
        byte = dat.read(1)[0]
        dat.seek(data_at)
        dat.write(bytes([byte ^ 0xFF]))


def wrong_key_in_last_entry(base: str) -> None:
    with open(base + ".idx", "r+b") as idx:
        idx.seek(-WIDTH.entry_size, os.SEEK_END)
        idx.write(STRAY_KEY.to_bytes(8, "big"))


def index_entry_past_dat_end(base: str) -> None:
    # What a crashed batched write can leave: an entry whose record never reached .dat.
    first_needle = 8
    with open(base + ".idx", "ab") as idx:
        idx.write(encode_entry(STRAY_KEY, first_needle, 1 << 20, WIDTH))


@dataclass(frozen=True)
class Case:
    damage: Callable[[str], None]
    loaded: bool
    read_only: bool


CASES = {
    # 6. Go rebuilds .idx from .dat (the same bytes it had) and serves everything.
    "deleted .idx": Case(drop_index, loaded=True, read_only=False),
    # 7. Go warns about the .vif and loads the volume; the file stays as it is.
    "garbage .vif": Case(garbage_info, loaded=True, read_only=False),
    # Both write a fresh .vif for the volume (the width of the build: 5 bytes).
    "deleted .vif": Case(drop_info, loaded=True, read_only=False),
    # Not damage, the same path: a volume loaded read-only is counted by Go's sorted-file map
    # (every entry a file, deletions by a Bloom filter) until it is marked writable.
    "read-only flag in .vif": Case(read_only_info, loaded=True, read_only=True),
    # The last record lost its end: read-only, the other needles still served.
    "truncated last needle": Case(truncate_last_needle, loaded=True, read_only=True),
    # 8. Go logs "not initialized" and skips the volume without touching the file.
    "zero-length .dat": Case(empty_data, loaded=False, read_only=False),
    "data shorter than a super block": Case(short_data, loaded=False, read_only=False),
    # The mark of a copy that never finished: both remove the volume's files at start.
    "leftover .note of a copy": Case(unfinished_copy_note, loaded=False, read_only=False),
    # Volumes are found by their .idx or .vif: a lone .dat is not a volume to either.
    "only the .dat left": Case(keep_only_data, loaded=False, read_only=False),
    # 9. The tail check reads the header and timestamp, not the CRC: only that read fails.
    "bad CRC in the last needle": Case(bad_crc_in_last_needle, loaded=True, read_only=False),
    # The same check looks at the size, not the key: the wrong key fails reads of it only.
    "wrong key in the last .idx entry": Case(wrong_key_in_last_entry, loaded=True, read_only=False),
    # 9. An entry reaching past the end of .dat turns the volume read-only.
    "index entry past the end of .dat": Case(index_entry_past_dat_end, loaded=True, read_only=True),
}


def observe(url: str, address: str, grpc_port: int) -> dict:
    volumes = json.loads(http("GET", f"{url}/status")[2])["Volumes"] or []
    keys = [*range(1, LAST_KEY + 1), STRAY_KEY]
    reads = {
        fid(key): http("GET", f"{url}/{fid(key)}", headers={"Accept-Encoding": "identity"})
        for key in keys
    }
    status, _, body = _post(url, NEW_FID, b"written after the damage")
    seen = {
        "volumes": volumes,
        "reads": reads,
        "write": (status, body.replace(address.encode(), b"<server>")),
    }
    if volumes and volumes[0]["ReadOnly"]:
        with grpc.insecure_channel(f"{address.split(':')[0]}:{grpc_port}") as channel:
            pb_grpc.VolumeServerStub(channel).VolumeMarkWritable(
                pb.VolumeMarkWritableRequest(volume_id=1)
            )
        seen["writable"] = json.loads(http("GET", f"{url}/status")[2])["Volumes"]
    return seen


def files_of(directory: str) -> tuple[dict[str, int], bytes | None, bytes | None]:
    """Sizes of the files, and the ``.idx`` and ``.vif`` bytes. Needle maps kept on disk are
    left out: Go's ``.sdx`` (the sorted index of its read-only map) and our ``.nmdb``, both
    derived from ``.idx`` and rebuilt when stale."""
    sizes = {
        name: os.path.getsize(os.path.join(directory, name))
        for name in os.listdir(directory)
        if not name.endswith((".sdx", ".nmdb", ".nmdb-wal", ".nmdb-shm"))  # a map each
    }

    def content_of(name: str) -> bytes | None:
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            return None
        with open(path, "rb") as src:
            return src.read()

    return sizes, content_of("1.idx"), content_of("1.vif")


def run_both(
    clusters: Clusters, name: str, damage: Callable[[str], None], our_flags: tuple[str, ...] = ()
) -> tuple[dict, dict, str, str]:
    """Damage a copy of the source once; what Go's server and ours each make of a copy of it,
    and the two directories afterwards."""
    workdir = os.path.join(clusters.root, name.replace(" ", "_"))
    damaged = os.path.join(workdir, "damaged")
    shutil.copytree(clusters.source, damaged)
    damage(os.path.join(damaged, "1"))
    go_dir, our_dir = os.path.join(workdir, "go"), os.path.join(workdir, "ours")
    shutil.copytree(damaged, go_dir)  # copy2: the same modification times on both sides
    shutil.copytree(damaged, our_dir)

    go_server = clusters.go.start_volume(go_dir, extra=["-preStopSeconds=0"])
    try:
        go_seen = observe(
            clusters.go.volume_url,
            f"127.0.0.1:{clusters.go.volume_port}",
            clusters.go.volume_port + 10000,
        )
    finally:
        go_server.stop()
        clusters.go.processes.remove(go_server)
    ours = OurServer(
        our_dir,
        clusters.mine.master_port,
        os.path.join(workdir, "ours.log"),
        extra=["-offsetBytes=5", *our_flags],
    )
    ours.start()
    try:
        our_seen = observe(ours.url, ours.address, ours.port + 10000)
    finally:
        ours.stop()
    our_seen["log"] = ours.log_tail()
    return go_seen, our_seen, go_dir, our_dir


@pytest.mark.parametrize(
    ("name", "index"),
    [(name, "memory") for name in CASES]
    # The on-disk map rebuilds from the same .idx: the cases where its load walk matters.
    + [
        (name, "sqlite")
        for name in ("deleted .idx", "read-only flag in .vif", "index entry past the end of .dat")
    ],
)
def test_damaged_volume_served_as_go_serves_it(clusters: Clusters, name: str, index: str) -> None:
    case = CASES[name]
    go_seen, our_seen, go_dir, our_dir = run_both(
        clusters, f"{name} {index}", case.damage, (f"-index={index}",)
    )

    # What Go does with this damage, so the comparison below compares the right thing.
    assert [v["Id"] for v in go_seen["volumes"]] == ([1] if case.loaded else [])
    if case.loaded:
        assert go_seen["volumes"][0]["ReadOnly"] == case.read_only
        assert go_seen["write"][0] == (500 if case.read_only else 201)
    assert our_seen["volumes"] == go_seen["volumes"], our_seen["log"]
    for file_id, go_read in go_seen["reads"].items():
        our_read = our_seen["reads"][file_id]
        assert_same(go_read, our_read, f"{name}: GET {file_id}")
        if go_read[0] == 200:
            assert our_read[2] == go_read[2], file_id
    assert our_seen["write"] == go_seen["write"]
    assert our_seen.get("writable") == go_seen.get("writable")
    assert files_of(our_dir) == files_of(go_dir)
    if name == "zero-length .dat":
        assert os.path.getsize(os.path.join(our_dir, "1.dat")) == 0


def empty_index(base: str) -> None:
    with open(base + ".idx", "r+b") as idx:
        idx.truncate(0)


def torn_index_entry(base: str) -> None:
    os.truncate(base + ".idx", os.path.getsize(base + ".idx") - 5)


def lost_index_entry(base: str) -> None:
    os.truncate(base + ".idx", os.path.getsize(base + ".idx") - WIDTH.entry_size)


# Where ours knowingly does better than Go 4.48, which here serves nothing at all (a torn
# entry: the volume is skipped), serves an empty volume whose next vacuum drops every needle
# (an empty .idx), or turns the volume read-only and loses the last needle (a lost entry).
RECOVERED = {
    "empty .idx": empty_index,
    "torn .idx entry": torn_index_entry,
    "lost last .idx entry": lost_index_entry,
}


@pytest.mark.parametrize("name", list(RECOVERED))
def test_index_damage_recovered_where_go_loses_needles(clusters: Clusters, name: str) -> None:
    go_seen, our_seen, _, _ = run_both(clusters, name, RECOVERED[name])
    assert [v["ReadOnly"] for v in our_seen["volumes"]] == [False], our_seen["log"]
    assert our_seen["write"][0] == 201
    for key in [*range(1, LAST_KEY + 1), STRAY_KEY]:
        status, _, body = our_seen["reads"][fid(key)]
        if key in (DELETED_KEY, STRAY_KEY):
            assert status == 404, key
        else:
            assert (status, body) == (200, content(key)), key
        go_status, _, go_body = go_seen["reads"][fid(key)]
        if go_status == 200:  # everything Go still serves, ours serves the same
            assert body == go_body, key
    assert sum(r[0] == 200 for r in go_seen["reads"].values()) < LAST_KEY - 1  # Go lost some
