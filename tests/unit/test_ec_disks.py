"""EC volumes whose files are spread over several data directories of one server (``-dir=a,b``),
at start-up and on mount: which disk's ``.ecx`` serves which shards, which partial sets are
removed and what the master is told per disk. The rules are Go 4.48's (store_ec_reconcile.go,
store_ec_mirror.go, disk_location_ec.go); tests/interop/test_ec_disks_go.py runs the same
layouts on the Go binary and on our server side by side."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from seaweed_volume.adapters.grpc.master_client import MasterClient
from seaweed_volume.config import VolumeServerConfig
from seaweed_volume.core.disk_location import DiskLocation
from seaweed_volume.core.erasure_coding.decode import decode_to_volume
from seaweed_volume.core.erasure_coding.generate import generate_ec_shards
from seaweed_volume.core.erasure_coding.layout import shard_size
from seaweed_volume.core.erasure_coding.reader import read_ec_needle
from seaweed_volume.core.errors import AlreadyDeleted, NotFound, VolumeError
from seaweed_volume.core.events import EcShardEvent, VolumeEvent
from seaweed_volume.core.needle_map.memory import MemoryNeedleMapKind
from seaweed_volume.core.store import Store
from seaweed_volume.core.types import OffsetWidth
from seaweed_volume.core.volume_info import VolumeInfo, save_volume_info
from tests.unit.test_volume import needle

VID = 9500
NAME = f"m_{VID}"
DATA = {i: bytes((i * 31 + j) % 251 for j in range(9_000 * i)) for i in range(1, 12)}


def open_store(dirs: list[str], events: list | None = None) -> Store:
    locations = [
        DiskLocation(d, 8, needle_map_kind=MemoryNeedleMapKind(), default_width=OffsetWidth.FIVE)
        for d in dirs
    ]
    store = Store(locations)
    if events is not None:
        store.events.subscribe(events.append)
    store.load_existing_volumes()
    return store


@pytest.fixture
def dirs(tmp_path) -> list[str]:
    return [str(tmp_path / "d0"), str(tmp_path / "d1")]


def encoded(dirs: list[str], drop_dat: bool = True) -> None:
    """Volume 9500 on disk 0, encoded there (all 14 shards, .ecx, .vif, .ecsum); with
    ``drop_dat`` the volume is deleted as ec.encode does, leaving the shards the only copy."""
    store = open_store(dirs)
    try:
        store.add_volume(VID, collection="m")
        for key, data in DATA.items():
            store.write_needle(VID, needle(key, data))
        generate_ec_shards(store, VID, "m")
        if drop_dat:
            store.ec.mount("m", VID, 0)  # the volume's .vif is then kept for the shards
            store.delete_volume(VID)
    finally:
        store.close()


def move(src: str, dst: str, suffixes: list[str]) -> None:
    for suffix in suffixes:
        os.rename(os.path.join(src, NAME + suffix), os.path.join(dst, NAME + suffix))


def shard_suffixes(ids) -> list[str]:
    return [f".ec{i:02d}" for i in ids]


def layout(dirs: list[str]) -> list[list[int]]:
    return [
        [i for i in range(14) if os.path.exists(os.path.join(d, f"{NAME}.ec{i:02d}"))] for d in dirs
    ]


def read(store: Store, key: int) -> bytes:
    ec = store.ec.find(VID)
    assert ec is not None
    return read_ec_needle(ec, key, None, store.ec.local_shards(ec)).data


@pytest.fixture
def split(dirs) -> Iterator[list[str]]:
    """Shards 0-6 moved to disk 1 while the server was down; .ecx stays on disk 0."""
    encoded(dirs)
    move(dirs[0], dirs[1], shard_suffixes(range(7)))
    yield dirs


def test_shards_on_a_disk_without_ecx_get_the_index_files_and_mount(split) -> None:
    d0, d1 = split
    events: list = []
    store = open_store(split, events)
    try:
        mounted = {disk: sorted(ec.shards) for disk, ec in store.ec.all()}
        assert mounted == {0: list(range(7, 14)), 1: list(range(7))}
        for suffix in (".ecx", ".ecj", ".vif"):  # copied beside the shards, as Go 4.48 does
            with (
                open(os.path.join(d0, NAME + suffix), "rb") as a,
                open(os.path.join(d1, NAME + suffix), "rb") as b,
            ):
                assert a.read() == b.read(), suffix
        assert not os.path.exists(os.path.join(d1, NAME + ".ecsum"))
        assert not [n for n in os.listdir(d1) if n.endswith(".tmp")]
        assert layout(split) == [list(range(7, 14)), list(range(7))]  # no file moved
        for key, data in DATA.items():  # every needle needs data shards of both disks
            assert read(store, key) == data
        reports = {r.disk_id: r for r in store.ec.reports()}
        assert reports[0].shard_bits == sum(1 << i for i in range(7, 14))
        assert reports[1].shard_bits == sum(1 << i for i in range(7))
        added = [e for e in events if isinstance(e, EcShardEvent)]
        assert {(e.disk_id, e.shard_bits.bit_length() - 1) for e in added} == {
            (0 if i >= 7 else 1, i) for i in range(14)
        }
    finally:
        store.close()


def test_a_sibling_index_serves_when_it_cannot_be_copied(split) -> None:
    """The copy fails (here a directory stands where its temporary file goes): disk 1's
    shards then read disk 0's index and journal, and a delete through either is seen by both."""
    d0, d1 = split
    os.mkdir(os.path.join(d1, NAME + ".ecx.mirror.tmp"))
    store = open_store(split)
    try:
        assert not os.path.exists(os.path.join(d1, NAME + ".ecx"))
        by_disk = dict(store.ec.all())
        assert sorted(by_disk[1].shards) == list(range(7))
        assert by_disk[1].index_base == os.path.join(d0, NAME)
        assert read(store, 4) == DATA[4]
        assert by_disk[1].delete_needle(4)
        with pytest.raises(AlreadyDeleted):
            read(store, 4)
        with open(os.path.join(d0, NAME + ".ecj"), "rb") as journal:
            assert journal.read() == (4).to_bytes(8, "big")
    finally:
        store.close()


def test_a_disk_that_lost_its_index_gets_the_copy_back(split) -> None:
    open_store(split).close()
    d0, d1 = split
    with open(os.path.join(d0, NAME + ".ecx"), "rb") as src:
        index = src.read()
    os.remove(os.path.join(d0, NAME + ".ecx"))  # the copy on disk 1 is now the only one
    store = open_store(split)
    try:
        by_disk = dict(store.ec.all())
        assert by_disk[0].index_base == os.path.join(d0, NAME)
        assert by_disk[1].index_base == os.path.join(d1, NAME)
        with open(os.path.join(d0, NAME + ".ecx"), "rb") as src:
            assert src.read() == index
        assert read(store, 7) == DATA[7]
    finally:
        store.close()


def plant_partial_set(directory: str, dat_size: int, shard_id: int = 1) -> None:
    """What an encode interrupted on another disk leaves: one shard, .ecx, .ecj and a .vif
    recording the size of the .dat it encoded (upstream's planted layout)."""
    with open(os.path.join(directory, f"{NAME}.ec{shard_id:02d}"), "wb") as out:
        out.truncate(shard_size(dat_size, 10))
    with open(os.path.join(directory, NAME + ".ecx"), "wb") as out:
        out.write(b"dummy ecx")
    open(os.path.join(directory, NAME + ".ecj"), "wb").close()
    save_volume_info(
        os.path.join(directory, NAME + ".vif"),
        VolumeInfo(
            version=3, dat_file_size=dat_size, ec_shard_config={"dataShards": 10, "parityShards": 4}
        ),
    )


def test_a_partial_set_beside_a_whole_sibling_dat_is_removed(dirs) -> None:
    encoded(dirs, drop_dat=False)
    d0, d1 = dirs
    for name in os.listdir(d0):  # keep the volume only, as before the encode
        if ".ec" in name:
            os.remove(os.path.join(d0, name))
    dat_size = os.path.getsize(os.path.join(d0, NAME + ".dat"))
    plant_partial_set(d1, dat_size)
    events: list = []
    store = open_store(dirs, events)
    try:
        assert store.ec.find(VID) is None
        assert sorted(os.listdir(d1)) == [NAME + ".vif", "vol_dir.uuid"]  # as Go leaves it
        assert store.find_volume(VID).read_needle(3).data == DATA[3]
        removed = [e for e in events if isinstance(e, EcShardEvent) and not e.added]
        assert [(e.disk_id, e.shard_bits) for e in removed] == [(1, 1 << 1)]
    finally:
        store.close()


@pytest.mark.parametrize("case", ["dat size differs", "recoverable node-wide", "no dat"])
def test_a_partial_set_that_may_be_the_only_copy_stays(dirs, case: str) -> None:
    """Disk 1 holds fewer shards than data shards, with its own index; nothing is removed
    unless a sibling ``.dat`` provably holds the same data and the server cannot recover
    the volume from its shards."""
    encoded(dirs, drop_dat=case == "no dat")
    d0, d1 = dirs
    shutil.copy(os.path.join(d0, NAME + ".ecx"), d1)
    shutil.copy(os.path.join(d0, NAME + ".vif"), d1)
    if case == "recoverable node-wide":
        move(d0, d1, shard_suffixes(range(9)))  # 9 here, 5 beside the .dat: 14 in all
    else:
        move(d0, d1, shard_suffixes(range(4)))
        for name in os.listdir(d0):
            if ".ec" in name:
                os.remove(os.path.join(d0, name))
    if case == "dat size differs":
        alone = open_store([d0])  # a write after the encode: not the .dat it encoded
        alone.write_needle(VID, needle(99, b"written later"))
        alone.close()
    before = layout(dirs)
    store = open_store(dirs)
    try:
        assert layout(dirs) == before
        assert sum(len(ec.shards) for _, ec in store.ec.all()) == sum(map(len, before))
    finally:
        store.close()


def test_shards_without_an_index_on_any_disk_stay_on_disk_unmounted(split) -> None:
    os.remove(os.path.join(split[0], NAME + ".ecx"))
    store = open_store(split)
    try:
        assert store.ec.find(VID) is None
        assert layout(split) == [list(range(7, 14)), list(range(7))]
    finally:
        store.close()


def test_shards_without_ecx_beside_their_whole_dat_are_removed(dirs) -> None:
    """An encode interrupted before it wrote ``.ecx``: the ``.dat`` is the source."""
    encoded(dirs, drop_dat=False)
    d0, _ = dirs
    os.remove(os.path.join(d0, NAME + ".ecx"))
    store = open_store(dirs)
    try:
        assert store.ec.find(VID) is None
        assert layout(dirs) == [[], []]
        assert store.find_volume(VID).read_needle(5).data == DATA[5]
    finally:
        store.close()


def test_mounting_a_shard_whose_index_is_on_another_disk(dirs) -> None:
    encoded(dirs)
    d0, d1 = dirs
    store = open_store(dirs, events := [])
    try:
        store.ec.unmount(VID, 0)
        move(d0, d1, shard_suffixes([0, 1]))
        store.ec.mount("m", VID, 1)  # VolumeEcShardsMount: found on disk 1, indexed by disk 0
        by_disk = dict(store.ec.all())
        assert sorted(by_disk[1].shards) == [1]
        assert by_disk[1].index_base == os.path.join(d0, NAME)
        assert [(e.disk_id, e.added) for e in events if isinstance(e, EcShardEvent)][-1] == (
            1,
            True,
        )
        store.ec.unmount(VID, 1)
        assert [(e.disk_id, e.added) for e in events if isinstance(e, EcShardEvent)][-1] == (
            1,
            False,
        )
        os.remove(os.path.join(d0, NAME + ".ecx"))
        with pytest.raises(VolumeError, match=r"MountEcShards 9500\.1: no \.ecx index found"):
            store.ec.mount("m", VID, 1)
    finally:
        store.close()


def test_volume_deltas_name_the_disk_of_the_volume(dirs) -> None:
    """Added and deleted volumes carry their own disk's id (Go's ``v.diskId``)."""
    locations = [
        DiskLocation(d, m, needle_map_kind=MemoryNeedleMapKind())
        for d, m in zip(dirs, (1, 8), strict=True)
    ]
    store = Store(locations)
    events: list = []
    store.events.subscribe(events.append)
    try:
        store.add_volume(3, "c")  # disk 1: more free slots
        store.unmount_volume(3)
        store.mount_volume(3)
        store.delete_volume(3)
        store.add_volume(4, "c")
        store.delete_collection("c")
        assert [
            (e.kind.value, e.volume_id, e.disk_id) for e in events if isinstance(e, VolumeEvent)
        ] == [
            ("added", 3, 1),
            ("deleted", 3, 1),
            ("added", 3, 1),
            ("deleted", 3, 1),
            ("added", 4, 1),
            ("deleted", 4, 1),
        ]
    finally:
        store.close()


def test_delta_heartbeats_name_the_disk_and_the_sender(split) -> None:
    """Every delta carries the sender's address, data center and rack, and the disk id of
    what changed (Go's ``doHeartbeat`` deltas)."""
    config = VolumeServerConfig(
        dirs=split, max_volume_counts=[8, 8], port=18080, data_center="dc1", rack="r1"
    )
    store = open_store(split)
    client = MasterClient(store, config)
    try:
        store.ec.unmount(VID, 3)
        store.ec.mount("m", VID, 3)
        store.add_volume(7, "c")
        store.delete_volume(7)
        sent = []
        while not client._outbox.empty():
            sent.append(client._outbox.get_nowait())
        where = {(h.ip, h.port, h.data_center, h.rack) for h in sent}
        assert where == {("127.0.0.1", 18080, "dc1", "r1")}
        deleted, added = sent[0].deleted_ec_shards[0], sent[1].new_ec_shards[0]
        assert (deleted.id, deleted.disk_id, deleted.ec_index_bits, list(deleted.shard_sizes)) == (
            VID,
            1,
            1 << 3,
            [0],
        )
        assert (added.disk_id, added.ec_index_bits) == (1, 1 << 3)
        volume_disk = sent[2].new_volumes[0].disk_id
        assert sent[3].deleted_volumes[0].disk_id == volume_disk
    finally:
        client.stop()
        store.close()


def test_decoding_shards_mounted_with_a_sibling_index(split) -> None:
    """``VolumeEcShardsToVolume`` folds and reads the index the shards were mounted with."""
    d0, d1 = split
    os.mkdir(os.path.join(d1, NAME + ".ecx.mirror.tmp"))
    store = open_store(split)
    try:
        assert dict(store.ec.all())[1].index_base == os.path.join(d0, NAME)
        assert dict(store.ec.all())[0].delete_needle(2)
        decode_to_volume(store, "m", VID)
        assert not os.path.exists(os.path.join(d0, NAME + ".ecj"))  # folded into disk 0's .ecx
        for shard_id in range(14):
            store.ec.unmount(VID, shard_id)
        volume = store.mount_volume(VID)
        assert volume.read_needle(5).data == DATA[5]
        with pytest.raises(NotFound):
            volume.read_needle(2)
    finally:
        store.close()
