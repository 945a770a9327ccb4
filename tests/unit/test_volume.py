"""Volume and store behaviour on real files in a temporary directory."""

from __future__ import annotations

import logging
import os
import threading

import pytest

from seaweed_volume.core import volume as volume_pkg  # noqa: F401 - package import check
from seaweed_volume.core.disk_location import DiskLocation
from seaweed_volume.core.errors import (
    AlreadyDeleted,
    CookieMismatch,
    InvalidCollection,
    NotFound,
    ReadOnlyVolume,
    VolumeExists,
    VolumeNotEmpty,
)
from seaweed_volume.core.idx import encode_entry
from seaweed_volume.core.needle.record import Needle, NeedleCorrupted
from seaweed_volume.core.needle_map.leveldb_map import LEVELDB_OPTIONS, LevelDbNeedleMapKind
from seaweed_volume.core.needle_map.memory import MemoryNeedleMapKind
from seaweed_volume.core.needle_map.sqlite_map import SqliteNeedleMapKind
from seaweed_volume.core.store import Store
from seaweed_volume.core.tier import TierRegistry
from seaweed_volume.core.ttl import TTL
from seaweed_volume.core.types import OffsetWidth, actual_size
from seaweed_volume.core.volume import volume as volume_module
from seaweed_volume.core.volume_info import RemoteFile, VolumeInfo


def needle(needle_id: int, data: bytes, cookie: int = 0xABCD) -> Needle:
    n = Needle(cookie=cookie, id=needle_id, data=data)
    n.set_name(f"file{needle_id}.txt".encode())
    n.set_last_modified(1_700_000_000)
    n.update_checksum()
    return n


def open_store(path: str, width: OffsetWidth = OffsetWidth.FOUR, kind=None) -> Store:
    location = DiskLocation(
        path, 8, needle_map_kind=kind or MemoryNeedleMapKind(), default_width=width
    )
    store = Store([location])
    store.load_existing_volumes()
    return store


@pytest.fixture
def data_dir(tmp_path) -> str:
    return str(tmp_path / "data")


@pytest.mark.parametrize(
    "kind",
    [MemoryNeedleMapKind(), SqliteNeedleMapKind(), LevelDbNeedleMapKind(LEVELDB_OPTIONS[0])],
    ids=lambda kind: kind.name,
)
def test_write_read_delete_and_reload(data_dir: str, kind) -> None:
    store = open_store(data_dir, kind=kind)
    store.add_volume(1)
    for i in range(1, 51):
        store.write_needle(1, needle(i, f"content {i}".encode() * i))
    assert store.delete_needle(1, 7, 0xABCD) > 0
    assert store.delete_needle(1, 7, 0xABCD) == 0  # already gone
    assert store.delete_needle(1, 999, 0xABCD) == 0  # never existed
    store.write_needle(1, needle(8, b"replaced"))
    volume = store.find_volume(1)
    counts = (volume.file_count, volume.deleted_count, volume.content_size, volume.deleted_size)
    store.close()

    store = open_store(data_dir, kind=kind)
    volume = store.find_volume(1)
    assert store.read_needle(1, 3).data == b"content 3" * 3
    assert store.read_needle(1, 8).data == b"replaced"
    assert store.read_needle(1, 8).name == b"file8.txt"
    with pytest.raises(AlreadyDeleted):
        store.read_needle(1, 7)
    with pytest.raises(NotFound):
        store.read_needle(1, 999)
    assert store.read_needle(1, 7, read_deleted=True).data == b"content 7" * 7
    # Go counts differently while replaying .idx than while serving; live files agree.
    assert volume.file_count - volume.deleted_count == counts[0] - counts[1] == 49
    assert (volume.file_count, volume.content_size) == (counts[0], counts[2])
    store.close()


def test_cookie_rules(data_dir: str) -> None:
    store = open_store(data_dir)
    store.add_volume(1)
    store.write_needle(1, needle(1, b"abc", cookie=1))
    with pytest.raises(CookieMismatch, match="mismatching cookie 2"):
        store.write_needle(1, needle(1, b"other", cookie=2))
    with pytest.raises(CookieMismatch):
        store.read_needle(1, 1, cookie=2)
    # An unchanged rewrite appends nothing.
    size = store.find_volume(1).dat_size()
    result = store.write_needle(1, needle(1, b"abc", cookie=1))
    assert result.unchanged and store.find_volume(1).dat_size() == size
    # Cookie 0 without a cookie check adopts the stored cookie (Go's replication path).
    store.write_needle(1, needle(1, b"xyz", cookie=0), check_cookie=False)
    assert store.read_needle(1, 1, cookie=1).data == b"xyz"
    store.close()


def test_flipped_byte_is_a_crc_error_for_that_read_only(data_dir: str) -> None:
    store = open_store(data_dir)
    volume = store.add_volume(1)
    store.write_needle(1, needle(1, b"first needle data"))
    offset = volume.dat_size()
    store.write_needle(1, needle(2, b"second needle data"))
    store.write_needle(1, needle(3, b"third needle data"))
    store.close()
    with open(os.path.join(data_dir, "1.dat"), "r+b") as dat:
        dat.seek(offset + 16 + 4 + 2)  # inside needle 2's data
        byte = dat.read(1)
        dat.seek(-1, os.SEEK_CUR)
        dat.write(bytes([byte[0] ^ 0x40]))
    store = open_store(data_dir)
    with pytest.raises(NeedleCorrupted, match="invalid CRC"):
        store.read_needle(1, 2)
    assert store.read_needle(1, 1).data == b"first needle data"
    assert store.read_needle(1, 3).data == b"third needle data"
    store.write_needle(1, needle(4, b"still writable"))
    assert store.read_needle(1, 4).data == b"still writable"
    store.close()


def test_bad_crc_in_the_last_needle_leaves_the_volume_writable(data_dir: str) -> None:
    store = open_store(data_dir)
    volume = store.add_volume(1)
    store.write_needle(1, needle(1, b"first needle data"))
    offset = volume.dat_size()
    store.write_needle(1, needle(2, b"last needle data"))
    store.close()
    with open(os.path.join(data_dir, "1.dat"), "r+b") as dat:
        dat.seek(offset + 16 + 4 + 2)
        byte = dat.read(1)
        dat.seek(-1, os.SEEK_CUR)
        dat.write(bytes([byte[0] ^ 0x40]))
    store = open_store(data_dir)
    assert not store.find_volume(1).is_read_only  # Go checks the tail's header, not its CRC
    with pytest.raises(NeedleCorrupted, match="invalid CRC"):
        store.read_needle(1, 2)
    store.write_needle(1, needle(3, b"still writable"))
    assert store.read_needle(1, 3).data == b"still writable"
    store.close()


def test_index_entry_past_the_end_of_dat_makes_the_volume_read_only(data_dir: str) -> None:
    store = open_store(data_dir)
    volume = store.add_volume(1)
    store.write_needle(1, needle(1, b"one"))
    size = volume.dat_size()
    store.close()
    with open(os.path.join(data_dir, "1.idx"), "ab") as idx:
        idx.write(encode_entry(7, 8, 4096, OffsetWidth.FOUR))  # a record that never landed
    store = open_store(data_dir)
    volume = store.find_volume(1)
    assert volume.is_read_only
    assert f"but .dat is {size} bytes" in volume.read_only_reason
    assert store.read_needle(1, 1).data == b"one"
    store.close()


def test_truncated_dat_loads_read_only_with_the_valid_prefix(data_dir: str, caplog) -> None:
    store = open_store(data_dir)
    volume = store.add_volume(1)
    for i in range(1, 4):
        store.write_needle(1, needle(i, b"x" * 100))
    size = volume.dat_size()
    store.close()
    os.truncate(os.path.join(data_dir, "1.dat"), size - 40)
    with caplog.at_level(logging.WARNING):
        store = open_store(data_dir)
    volume = store.find_volume(1)
    assert volume.is_read_only and "truncated" in volume.read_only_reason
    assert store.read_needle(1, 1).data == b"x" * 100
    assert store.read_needle(1, 2).data == b"x" * 100
    with pytest.raises(NeedleCorrupted):
        store.read_needle(1, 3)
    with pytest.raises(ReadOnlyVolume, match="volume 1 is read only"):
        store.write_needle(1, needle(9, b"no"))
    store.close()


def test_torn_trailing_write_is_cut_and_lost_index_entries_roll_forward(data_dir: str) -> None:
    store = open_store(data_dir)
    volume = store.add_volume(1)
    store.write_needle(1, needle(1, b"one"))
    store.write_needle(1, needle(2, b"two"))
    store.delete_needle(1, 1, 0xABCD)
    good_end = volume.dat_size()
    entry = volume.width.entry_size
    store.close()
    idx_path = os.path.join(data_dir, "1.idx")
    # Lose the last two index appends (the put of 2 and the tombstone of 1) ...
    os.truncate(idx_path, os.path.getsize(idx_path) - 2 * entry)
    # ... and leave half a record at the end of .dat, as a crash mid-append would.
    partial = needle(3, b"three" * 50).to_bytes(3)[:40]
    with open(os.path.join(data_dir, "1.dat"), "ab") as dat:
        dat.write(partial)
    store = open_store(data_dir)
    volume = store.find_volume(1)
    assert not volume.is_read_only
    assert volume.dat_size() == good_end
    assert store.read_needle(1, 2).data == b"two"
    with pytest.raises(AlreadyDeleted):
        store.read_needle(1, 1)
    store.write_needle(1, needle(3, b"three"))
    store.close()
    assert open_store(data_dir).read_needle(1, 3).data == b"three"


def test_damaged_unindexed_record_with_records_after_it_is_not_cut(data_dir: str) -> None:
    store = open_store(data_dir)
    volume = store.add_volume(1)
    store.write_needle(1, needle(1, b"one"))
    indexed = os.path.getsize(os.path.join(data_dir, "1.idx"))
    damaged_at = volume.dat_size()
    store.write_needle(1, needle(2, b"two" * 20))
    store.write_needle(1, needle(3, b"three"))
    store.close()
    # The index lost its last two entries and the first of those records a byte of its data.
    os.truncate(os.path.join(data_dir, "1.idx"), indexed)
    dat_path = os.path.join(data_dir, "1.dat")
    size = os.path.getsize(dat_path)
    with open(dat_path, "r+b") as dat:
        dat.seek(damaged_at + 16 + 4 + 5)
        byte = dat.read(1)
        dat.seek(-1, os.SEEK_CUR)
        dat.write(bytes([byte[0] ^ 0x01]))
    store = open_store(data_dir)
    volume = store.find_volume(1)
    assert volume.is_read_only and "is damaged" in volume.read_only_reason
    assert os.path.getsize(dat_path) == size  # needle 3 is still there to be recovered
    assert store.read_needle(1, 1).data == b"one"
    store.close()


def test_lost_index_is_rebuilt_and_a_torn_tail_kept_read_only(data_dir: str) -> None:
    store = open_store(data_dir)
    store.add_volume(1)
    store.write_needle(1, needle(1, b"one"))
    store.write_needle(1, needle(2, b"two"))
    store.delete_needle(1, 1, 0xABCD)
    store.close()
    idx_path = os.path.join(data_dir, "1.idx")
    with open(idx_path, "rb") as src:
        original_index = src.read()
    os.remove(idx_path)
    store = open_store(data_dir)
    assert not store.find_volume(1).is_read_only
    with open(idx_path, "rb") as src:
        assert src.read() == original_index  # one entry per record, the tombstone as -1
    store.close()

    # Without an index, a partial record at the end cannot be told from damage: nothing is
    # cut, the whole records are indexed and the volume is served read-only.
    os.remove(idx_path)
    with open(os.path.join(data_dir, "1.dat"), "ab") as dat:
        dat.write(needle(3, b"three" * 50).to_bytes(3)[:40])
    size = os.path.getsize(os.path.join(data_dir, "1.dat"))
    store = open_store(data_dir)
    volume = store.find_volume(1)
    assert volume.is_read_only and volume.dat_size() == size
    assert store.read_needle(1, 2).data == b"two"
    with pytest.raises(AlreadyDeleted):
        store.read_needle(1, 1)
    store.close()


def test_empty_dat_of_an_existing_volume_is_skipped_untouched(data_dir: str, caplog) -> None:
    store = open_store(data_dir)
    store.add_volume(1)
    store.write_needle(1, needle(1, b"one"))
    store.close()
    os.truncate(os.path.join(data_dir, "1.dat"), 0)
    with caplog.at_level(logging.ERROR):
        store = open_store(data_dir)
    assert store.find_volume(1) is None and "not initialized" in caplog.text
    assert os.path.getsize(os.path.join(data_dir, "1.dat")) == 0
    store.close()


def test_garbage_vif_is_warned_about_and_left_alone(data_dir: str, caplog) -> None:
    store = open_store(data_dir)
    store.add_volume(1)
    store.write_needle(1, needle(1, b"one"))
    store.close()
    garbage = b"\x00\xfe{not json"
    with open(os.path.join(data_dir, "1.vif"), "wb") as out:
        out.write(garbage)
    with caplog.at_level(logging.WARNING):
        store = open_store(data_dir)
    assert "1.vif" in caplog.text
    assert store.read_needle(1, 1).data == b"one"
    store.write_needle(1, needle(2, b"two"))
    store.close()
    with open(os.path.join(data_dir, "1.vif"), "rb") as src:
        assert src.read() == garbage


class _DirectoryTier:
    """A tier backend keeping objects as files of one local directory."""

    def __init__(self, root: str) -> None:
        self.name, self.root, self.reads = "dir.local", root, []

    def read_at(self, key: str, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        with open(os.path.join(self.root, key), "rb") as src:
            src.seek(offset)
            return src.read(length)


def test_tiered_volume_without_index_is_skipped_not_rebuilt(data_dir: str, tmp_path) -> None:
    store = open_store(data_dir)
    store.add_volume(1)
    store.write_needle(1, needle(1, b"one"))
    store.close()
    remote = tmp_path / "remote"
    remote.mkdir()
    dat = os.path.join(data_dir, "1.dat")
    size = os.path.getsize(dat)
    os.replace(dat, remote / "key1")
    os.remove(os.path.join(data_dir, "1.idx"))
    info = VolumeInfo(version=3, bytes_offset=4)
    info.files.append(RemoteFile("dir", "local", "key1", file_size=size, modified_time=1))
    with open(os.path.join(data_dir, "1.vif"), "w") as out:
        out.write(info.to_json())
    tier = _DirectoryTier(str(remote))
    location = DiskLocation(data_dir, 8, needle_map_kind=MemoryNeedleMapKind())
    location.tiers = TierRegistry()
    location.tiers.backends[tier.name] = tier
    location.load_existing_volumes()
    assert location.find_volume(1) is None
    assert not os.path.exists(os.path.join(data_dir, "1.idx"))
    assert sum(length for _, length in tier.reads) <= 8  # the super block at most
    location.close()


def test_unfinished_copy_is_swept_at_start_unless_ec_files_are_there(data_dir: str) -> None:
    store = open_store(data_dir)
    store.add_volume(1)
    store.add_volume(2)
    store.write_needle(1, needle(1, b"one"))
    store.write_needle(2, needle(1, b"two"))
    store.close()
    for vid in (1, 2):
        with open(os.path.join(data_dir, f"{vid}.note"), "w") as note:
            note.write("copying from 10.0.0.9:8080")
    with open(os.path.join(data_dir, "2.ecx"), "wb"):
        pass  # an EC volume shares the base name: its files are left alone
    store = open_store(data_dir)
    assert store.find_volume(1) is None and store.find_volume(2) is None
    assert sorted(name for name in os.listdir(data_dir) if name.startswith("1.")) == []
    assert os.path.exists(os.path.join(data_dir, "2.dat"))
    assert os.path.exists(os.path.join(data_dir, "2.note"))
    store.close()


def test_unknown_super_block_version_skips_only_that_volume(data_dir: str, caplog) -> None:
    store = open_store(data_dir)
    store.add_volume(1)
    store.add_volume(2)
    store.write_needle(2, needle(1, b"fine"))
    store.close()
    with open(os.path.join(data_dir, "1.dat"), "r+b") as dat:
        dat.write(b"\x09")
    with caplog.at_level(logging.ERROR):
        store = open_store(data_dir)
    assert store.find_volume(1) is None
    assert store.read_needle(2, 1).data == b"fine"
    assert any(
        "skipping volume 1" in r.message and "unsupported super block version 9" in r.message
        for r in caplog.records
    )
    assert os.path.exists(os.path.join(data_dir, "1.dat"))  # never deleted
    store.close()


@pytest.mark.parametrize("name", ["a/b", "..", "../x", "x/../y", ".hidden", "a\\b"])
def test_bad_collection_names_are_refused(data_dir: str, name: str) -> None:
    store = open_store(data_dir)
    with pytest.raises(InvalidCollection):
        store.add_volume(1, collection=name)
    assert os.listdir(data_dir) == ["vol_dir.uuid"]
    store.close()


def test_four_and_five_byte_volumes_side_by_side(data_dir: str) -> None:
    store = open_store(data_dir, width=OffsetWidth.FOUR)
    store.add_volume(4)
    store.write_needle(4, needle(1, b"four"))
    store.close()
    store = open_store(data_dir, width=OffsetWidth.FIVE)
    store.add_volume(5)
    store.write_needle(5, needle(1, b"five"))
    assert store.find_volume(4).width == OffsetWidth.FOUR
    assert store.find_volume(5).width == OffsetWidth.FIVE
    assert os.path.getsize(os.path.join(data_dir, "4.idx")) == 16
    assert os.path.getsize(os.path.join(data_dir, "5.idx")) == 17
    store.write_needle(4, needle(2, b"four again"))
    assert store.read_needle(4, 2).data == b"four again"
    assert store.read_needle(5, 1).data == b"five"
    store.close()
    with open(os.path.join(data_dir, "4.vif")) as src:
        assert VolumeInfo.from_json(src.read()).bytes_offset == 4


def test_read_only_persists_in_vif(data_dir: str) -> None:
    store = open_store(data_dir)
    store.add_volume(1)
    store.mark_volume_read_only(1, persist=False)
    with pytest.raises(ReadOnlyVolume):
        store.write_needle(1, needle(1, b"x"))
    store.close()
    store = open_store(data_dir)
    store.write_needle(1, needle(1, b"x"))  # not persisted: writable again
    store.mark_volume_read_only(1, persist=True)
    store.close()
    store = open_store(data_dir)
    assert store.find_volume(1).is_read_only
    store.mark_volume_writable(1)
    store.close()
    store = open_store(data_dir)
    assert not store.find_volume(1).is_read_only
    store.close()


def test_volume_lifecycle(data_dir: str) -> None:
    store = open_store(data_dir)
    store.add_volume(1, collection="pics", replica_placement="001", ttl="3d")
    with pytest.raises(VolumeExists, match="Volume Id 1 already exists!"):
        store.add_volume(1)
    volume = store.find_volume(1)
    assert str(volume.super_block.replica_placement) == "001"
    assert str(volume.super_block.ttl) == "3d"
    store.write_needle(1, needle(1, b"x"))
    assert str(store.read_needle(1, 1).ttl) == "3d"  # inherits the volume TTL
    with pytest.raises(VolumeNotEmpty):
        store.delete_volume(1, only_empty=True)
    store.unmount_volume(1)
    assert store.find_volume(1) is None
    assert store.mount_volume(1).collection == "pics"
    store.delete_collection("pics")
    assert sorted(os.listdir(data_dir)) == ["vol_dir.uuid"]
    store.close()


def test_needle_ttl_expires_from_append_time(data_dir: str, monkeypatch) -> None:
    store = open_store(data_dir)
    store.add_volume(1)
    n = needle(1, b"short lived")
    n.set_ttl(TTL.parse("1m"))
    store.write_needle(1, n)
    assert store.read_needle(1, 1).data == b"short lived"
    now = volume_module.time.time_ns()
    monkeypatch.setattr(volume_module.time, "time_ns", lambda: now + 61 * 1_000_000_000)
    with pytest.raises(NotFound):
        store.read_needle(1, 1)
    store.close()


def test_vol_dir_uuid_is_stable(data_dir: str) -> None:
    first = DiskLocation(data_dir, 1, needle_map_kind=MemoryNeedleMapKind()).uuid
    assert DiskLocation(data_dir, 1, needle_map_kind=MemoryNeedleMapKind()).uuid == first
    assert len(first) == 36


def test_record_sizes_on_disk(data_dir: str) -> None:
    store = open_store(data_dir)
    volume = store.add_volume(1)
    store.write_needle(1, needle(1, b"hello"))
    n = store.read_needle(1, 1)
    assert volume.dat_size() == 8 + actual_size(n.size, 3)
    store.close()


def test_missing_padding_of_last_record_is_tolerated_like_go(data_dir: str) -> None:
    """Go rounds the .dat size up to 8: a last record short of padding only still counts."""
    store = open_store(data_dir)
    volume = store.add_volume(1)
    store.write_needle(1, needle(1, b"abc"))  # 16 + 36 + 4 + 8 -> padded by 4 bytes
    end = volume.dat_size()
    store.close()
    os.truncate(os.path.join(data_dir, "1.dat"), end - 3)
    store = open_store(data_dir)
    volume = store.find_volume(1)
    assert not volume.is_read_only, volume.read_only_reason
    assert store.read_needle(1, 1).data == b"abc"
    result = store.write_needle(1, needle(2, b"next"))
    assert result.offset == end and result.offset % 8 == 0
    assert store.read_needle(1, 2).data == b"next"
    store.close()


@pytest.mark.parametrize(
    "kind",
    [MemoryNeedleMapKind(), LevelDbNeedleMapKind(LEVELDB_OPTIONS[0])],
    ids=lambda kind: kind.name,
)
def test_vacuum_compacts_and_keeps_writes_made_meanwhile(data_dir: str, kind) -> None:
    from seaweed_volume.core.volume import vacuum

    store = open_store(data_dir, kind=kind)
    store.add_volume(1)
    for i in range(1, 21):
        store.write_needle(1, needle(i, bytes([i]) * 500))
    for i in range(1, 11):
        store.delete_needle(1, i, 0xABCD)
    before = store.find_volume(1).dat_size()
    assert store.check_compact_volume(1) > 0.4
    store.compact_volume(1)
    # Writes and deletes while the copy waits for its commit land through the diff.
    store.write_needle(1, needle(30, b"written during vacuum"))
    store.delete_needle(1, 11, 0xABCD)
    read_only, size = store.commit_compact_volume(1)
    volume = store.find_volume(1)
    assert not read_only and size == volume.dat_size() < before
    assert volume.super_block.compaction_revision == 1
    for i in range(12, 21):
        assert store.read_needle(1, i).data == bytes([i]) * 500
    assert store.read_needle(1, 30).data == b"written during vacuum"
    for i in (1, 11):
        with pytest.raises((NotFound, AlreadyDeleted)):
            store.read_needle(1, i)
    assert not [f for f in os.listdir(data_dir) if f.endswith((".cpd", ".cpx", ".cpc"))]
    store.close()
    store = open_store(data_dir, kind=kind)  # reloads cleanly from the swapped files
    assert store.read_needle(1, 20).data == bytes([20]) * 500
    assert store.find_volume(1).file_count - store.find_volume(1).deleted_count == 10
    store.close()
    assert vacuum.garbage_level  # the module's public entry points exist


def test_leveldb_map_directory_goes_with_its_volume(data_dir: str) -> None:
    store = open_store(data_dir, kind=LevelDbNeedleMapKind(LEVELDB_OPTIONS[0]))
    store.add_volume(3)
    store.write_needle(3, needle(1, b"x"))
    assert os.path.isfile(os.path.join(data_dir, "3.ldb", "CURRENT"))
    store.delete_volume(3)
    assert not [name for name in os.listdir(data_dir) if name.startswith("3.")]
    store.close()


def test_interrupted_commit_rolls_forward_or_back(data_dir: str) -> None:
    store = open_store(data_dir)
    store.add_volume(1)
    for i in range(1, 6):
        store.write_needle(1, needle(i, b"x" * 100))
    store.delete_needle(1, 1, 0xABCD)
    store.compact_volume(1)
    store.close()
    base = os.path.join(data_dir, "1")
    # A marker means the commit decided: the next load finishes the swap.
    open(base + ".cpc", "wb").close()
    store = open_store(data_dir)
    assert store.find_volume(1).super_block.compaction_revision == 1
    assert store.read_needle(1, 5).data == b"x" * 100
    store.compact_volume(1)
    store.close()
    # Without a marker the copies are orphans: dropped, the old files stay.
    store = open_store(data_dir)
    assert store.find_volume(1).super_block.compaction_revision == 1
    assert not os.path.exists(base + ".cpd") and not os.path.exists(base + ".cpx")
    store.close()


def test_low_disk_space_makes_volumes_read_only(data_dir: str) -> None:
    from seaweed_volume.core.disk_location import MinFreeSpace

    location = DiskLocation(
        data_dir, 4, needle_map_kind=MemoryNeedleMapKind(), min_free_space=MinFreeSpace.parse("1")
    )
    store = Store([location])
    store.add_volume(1)
    store.write_needle(1, needle(1, b"fits"))
    location.min_free_space = MinFreeSpace.parse("1000000TiB")  # more than any disk has
    assert location.check_disk_space()
    with pytest.raises(ReadOnlyVolume, match="volume 1 is read only"):
        store.write_needle(1, needle(2, b"refused"))
    assert store.read_needle(1, 1).data == b"fits"  # reads go on
    location.min_free_space = MinFreeSpace.parse("0")
    assert not location.check_disk_space()
    store.write_needle(1, needle(2, b"accepted again"))
    store.close()


def test_min_free_space_parsing() -> None:
    from seaweed_volume.core.disk_location import MinFreeSpace

    assert MinFreeSpace.parse("5").percent == 5.0
    assert MinFreeSpace.parse("10GiB").bytes == 10 * 1024**3
    assert MinFreeSpace.parse("2GB").bytes == 2 * 1000**3
    with pytest.raises(ValueError):
        MinFreeSpace.parse("150")


def test_ttl_volumes_expire_then_are_deleted(data_dir: str) -> None:
    store = open_store(data_dir)
    store.add_volume(1, ttl="100m")
    store.add_volume(2)
    store.write_needle(1, needle(1, b"short lived"))
    store.write_needle(2, needle(1, b"forever"))
    written = store.find_volume(1).last_modified_ts_seconds
    assert store.expire_ttl_volumes(now=written + 3600) == set()  # no size limit known yet
    store.volume_size_limit = 30 * 1024**3
    assert store.expire_ttl_volumes(now=written + 100 * 60) == set()
    # Past its TTL it is hidden from heartbeats; a tenth of the TTL later it is deleted.
    assert store.expire_ttl_volumes(now=written + 101 * 60) == {1}
    assert store.find_volume(1) is not None
    assert store.expire_ttl_volumes(now=written + 110 * 60 + 1) == {1}
    assert store.find_volume(1) is None and store.find_volume(2) is not None
    assert not os.path.exists(os.path.join(data_dir, "1.dat"))
    store.close()


def test_preallocation_keeps_the_logical_size(data_dir: str) -> None:
    store = open_store(data_dir)
    volume = store.add_volume(1, preallocate=4 * 1024 * 1024)
    assert os.path.getsize(os.path.join(data_dir, "1.dat")) == 8
    store.write_needle(1, needle(1, b"after preallocation"))
    store.compact_volume(1, preallocate=4 * 1024 * 1024)
    store.commit_compact_volume(1)
    store.close()
    store = open_store(data_dir)
    assert not store.find_volume(1).is_read_only
    assert store.read_needle(1, 1).data == b"after preallocation"
    assert volume.id == 1
    store.close()


def test_large_needles_read_meta_only_and_stream_in_chunks(data_dir: str, caplog) -> None:
    store = open_store(data_dir)
    volume = store.add_volume(1)
    big = os.urandom(volume_module.PAGED_READ_LIMIT + 4321)
    stored = needle(7, big)
    stored.set_mime(b"application/x-big")
    store.write_needle(1, stored)
    store.write_needle(1, needle(8, b"small"))

    meta = volume.read_needle(7, meta_only=True)
    assert (meta.data, meta.data_size) == (b"", len(big))
    assert (meta.name, meta.mime, meta.etag) == (b"file7.txt", b"application/x-big", stored.etag)
    pieces = list(volume.read_needle_data(meta, 0, len(big), chunk_size=100_000))
    assert max(map(len, pieces)) == 100_000 and b"".join(pieces) == big
    assert b"".join(volume.read_needle_data(meta, 1000, 5)) == big[1000:1005]
    # Small records are read whole even when meta-only is allowed.
    assert volume.read_needle(8, meta_only=True).data == b"small"

    # A flipped data byte cannot fail a stream already under way: it is logged at the end.
    with open(os.path.join(data_dir, "1.dat"), "r+b") as dat:
        dat.seek(meta.data_offset + 10)
        byte = dat.read(1)
        dat.seek(-1, os.SEEK_CUR)
        dat.write(bytes([byte[0] ^ 1]))
    with caplog.at_level(logging.ERROR):
        assert len(b"".join(volume.read_needle_data(meta, 0, len(big)))) == len(big)
    assert "invalid CRC" in caplog.text
    with pytest.raises(NeedleCorrupted, match="invalid CRC"):
        volume.read_needle(7)
    store.close()


class _SyncCountingFile:
    """A volume's ``.dat`` whose fsyncs are counted (the number of appends each covered),
    with ``before_sync`` run first (to hold one up, or fail it), and its record writes
    counted."""

    def __init__(self, volume, before_sync=None) -> None:
        self._file = volume.dat
        self._volume = volume
        self.syncs: list[int] = []
        self.before_sync = before_sync
        self.writes = 0
        self.written = threading.Condition()

    def write_at(self, data: bytes, offset: int) -> None:
        self._file.write_at(data, offset)
        with self.written:
            self.writes += 1
            self.written.notify_all()

    def sync(self) -> None:
        if self.before_sync is not None:
            self.before_sync()
        self.syncs.append(self._volume._appended)
        self._file.sync()

    def __getattr__(self, name: str) -> object:
        return getattr(self._file, name)


def test_concurrent_fsync_writes_share_one_sync(data_dir: str) -> None:
    """Group commit: the writers queued behind an fsync are all covered by the next one."""
    store = open_store(data_dir)
    volume = store.add_volume(1)
    writers = 8

    def hold_the_first_sync() -> None:  # until every writer has appended
        if not counting.syncs:
            with counting.written:
                assert counting.written.wait_for(lambda: counting.writes == writers, 10)
            with volume._append_lock:  # the last append has finished (its ticket counted)
                assert volume._appended == writers

    counting = _SyncCountingFile(volume, hold_the_first_sync)
    volume.dat = counting
    threads = [
        threading.Thread(
            target=store.write_needle,
            args=(1, needle(key, b"durable %d" % key)),
            kwargs={"fsync": True},
        )
        for key in range(1, writers + 1)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # One fsync for the first writer (or for all, had they appended before it started) and
    # one for everyone queued behind it: never one each.
    assert len(counting.syncs) <= 2 and volume._synced == writers
    assert [store.read_needle(1, key).data for key in (1, writers)] == [b"durable 1", b"durable 8"]
    store.close()


def test_group_sync_makes_queued_appends_durable_together(data_dir: str) -> None:
    """fsync'd uploads append on the event loop and wait for one syncing thread."""
    import asyncio

    from seaweed_volume.adapters.http.group_sync import GroupSync

    store = open_store(data_dir)
    volume = store.add_volume(1)
    counting = _SyncCountingFile(volume)
    volume.dat = counting
    tickets = [store.write_needle(1, needle(key, b"later %d" % key)).ticket for key in range(1, 6)]
    assert tickets == [1, 2, 3, 4, 5] and volume._synced == 0

    async def wait_all(group: GroupSync) -> None:
        await asyncio.gather(*(group.wait(volume, ticket) for ticket in tickets))

    asyncio.run(wait_all(GroupSync()))
    # Whatever the batches, the first fsync covered every append made before it.
    assert volume._synced == 5 and counting.syncs == [5]

    # Uploads that append and wait in one turn of the loop are synced together: the thread
    # is handed the turn's waiters once it has run, not woken by the first one alone.
    async def append_and_wait(group: GroupSync, key: int) -> None:
        ticket = store.write_needle(1, needle(key, b"turn %d" % key)).ticket
        await group.wait(volume, ticket)

    async def one_turn(group: GroupSync) -> None:
        await asyncio.gather(*(append_and_wait(group, key) for key in range(10, 20)))

    asyncio.run(one_turn(GroupSync()))
    assert volume._synced == 15 and counting.syncs == [5, 15]

    def failing_sync() -> None:
        raise OSError(5, "Input/output error")

    counting.before_sync = failing_sync
    ticket = store.write_needle(1, needle(9, b"not durable")).ticket
    with pytest.raises(OSError, match="Input/output error"):
        asyncio.run(GroupSync().wait(volume, ticket))
    counting.before_sync = None
    store.close()


class _PowerLoss:
    """What a power loss leaves at worst: each watched file as it was at its last fsync (every
    dirty page lost, every fsync honoured). Watches ``os.fsync`` (the volume's files may be
    compiled classes that cannot be wrapped)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, names: list[str]) -> None:
        self.durable = {os.path.realpath(name): self._read(name) for name in names}
        self.syncs = dict.fromkeys(self.durable, 0)
        self.struck = False
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            real_fsync(fd)
            path = os.readlink(f"/proc/self/fd/{fd}")
            if path in self.durable and not self.struck:
                self.durable[path] = self._read(path)
                self.syncs[path] += 1

        monkeypatch.setattr(os, "fsync", fsync)

    @staticmethod
    def _read(name: str) -> bytes:
        with open(name, "rb") as stored:
            return stored.read()

    def count(self, name: str) -> int:
        return self.syncs[os.path.realpath(name)]

    def strike(self, store: Store) -> None:
        """The power goes now: closing the store (which syncs) comes too late."""
        self.struck = True
        store.close()
        for path, content in self.durable.items():
            with open(path, "wb") as stored:
                stored.write(content)


@pytest.mark.parametrize("read_only_after", [False, True])
def test_fsync_acknowledged_uploads_survive_a_power_loss(
    data_dir: str, read_only_after: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fsync=true`` syncs ``.dat`` only (as Go's write worker does): what ``.idx`` loses
    is indexed again at load. An empty upload, which on disk reads as a deletion, syncs its
    ``.idx`` entry too; so does marking the volume read-only (such a volume is not repaired
    at load)."""
    store = open_store(data_dir)
    volume = store.add_volume(1)
    dat, idx = volume.dat.name, volume.idx.name
    power = _PowerLoss(monkeypatch, [dat, idx])
    for key in (1, 2, 3):
        store.write_needle(1, needle(key, b"durable %d" % key), fsync=True)
    assert power.count(dat) == 3 and power.count(idx) == 0
    store.write_needle(1, needle(4, b""), fsync=True)
    assert power.count(idx) == 1
    store.write_needle(1, needle(5, b"durable 5"), fsync=True)
    assert power.count(idx) == 1  # the last entry is lost with the power
    store.write_needle(1, needle(6, b"never synced"))  # not acknowledged as durable
    if read_only_after:
        volume.mark_read_only(persist=True)
        assert power.count(idx) == 2
    power.strike(store)

    store = open_store(data_dir)
    for key in (1, 2, 3, 5):
        assert store.read_needle(1, key).data == b"durable %d" % key
    assert store.read_needle(1, 4).data == b""
    assert store.find_volume(1).is_read_only == read_only_after
    store.close()
