"""A volume's records in file order, its history by append time, and raw records shipped whole
(what tailing, incremental copy, ReadAllNeedles and Read/WriteNeedleBlob are built on)."""

from __future__ import annotations

import pytest

from seaweed_volume.core.errors import ReadOnlyVolume, VolumeError
from seaweed_volume.core.needle.record import Needle
from seaweed_volume.core.types import OffsetWidth, actual_size
from seaweed_volume.core.volume import scan
from seaweed_volume.core.volume.backup import append_at_ns, first_appended_after
from seaweed_volume.core.volume.scan import scan_records
from tests.unit.test_volume import needle, open_store


@pytest.fixture
def volume(tmp_path):
    store = open_store(str(tmp_path / "data"), width=OffsetWidth.FIVE)
    store.add_volume(1)
    yield store.find_volume(1)
    store.close()


def fill(volume, count: int = 6) -> list[int]:
    """Needles 1..count, then needle 2 deleted and needle 3 overwritten; the offsets of the
    records in append order."""
    offsets = [
        volume.write_needle(needle(i, f"record {i} ".encode() * i)).offset
        for i in range(1, count + 1)
    ]
    volume.delete_needle(2, 0xABCD)
    offsets.append(volume.dat_size() - actual_size(0, 3))
    offsets.append(volume.write_needle(needle(3, b"rewritten")).offset)
    return offsets


def test_scan_walks_every_record_in_file_order(volume, monkeypatch) -> None:
    offsets = fill(volume)
    monkeypatch.setattr(scan, "READ_BLOCK", 64)  # records straddle the read blocks
    records = list(scan_records(volume.dat, 3, volume.super_block.block_size))
    assert [r.offset for r in records] == offsets
    assert [r.needle_id for r in records] == [1, 2, 3, 4, 5, 6, 2, 3]
    assert records[6].size == 0  # the tombstone
    assert records[-1].end == volume.dat_size()
    assert records[4].needle(3).data == b"record 5 " * 5
    assert records[-1].needle(3).data == b"rewritten"


def test_first_appended_after_finds_the_next_record_by_time(volume) -> None:
    offsets = fill(volume)
    times = [append_at_ns(volume.dat, offset) for offset in offsets]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert first_appended_after(volume, 0) == offsets[0]
    for i, stamp in enumerate(times[:-1]):
        assert first_appended_after(volume, stamp) == offsets[i + 1]
        assert first_appended_after(volume, stamp - 1) == offsets[i]
    assert first_appended_after(volume, times[-1]) is None


def test_empty_volume_has_nothing_after_any_time(volume) -> None:
    assert first_appended_after(volume, 0) is None
    assert list(scan_records(volume.dat, 3, volume.super_block.block_size)) == []


def test_blob_copies_a_record_whole_with_a_fresh_append_time(volume, tmp_path) -> None:
    fill(volume)
    offset, size = volume.locate(4)
    blob = volume.read_blob(offset, size)
    assert len(blob) == actual_size(size, 3)

    other_store = open_store(str(tmp_path / "other"), width=OffsetWidth.FIVE)
    other_store.add_volume(7)
    other = other_store.find_volume(7)
    other.write_needle(needle(9, b"already here"))
    assert other.write_blob(4, blob, size) is True
    copied = other.read_needle(4, 0xABCD)
    assert copied.data == b"record 4 " * 4 and copied.name == b"file4.txt"
    assert copied.append_at_ns > other.read_needle(9).append_at_ns
    # The same content again is not appended twice.
    end = other.dat_size()
    assert other.write_blob(4, blob, size) is False
    assert other.dat_size() == end
    # A clone under another id (Go allows it): readable under the new id.
    assert other.write_blob(44, blob, size) is True
    assert other.read_needle(44).data == b"record 4 " * 4
    other_store.close()


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda blob, size: (blob[:10], size), "shorter than a needle header"),
        (lambda blob, size: (blob, size + 1), "does not match its blob header size"),
        (lambda blob, size: (blob + bytes(8), size), "is not one record"),
        (lambda blob, size: (blob[:-8], size), "is not one record"),
    ],
)
def test_bad_blobs_are_refused_before_writing(volume, mangle, message) -> None:
    fill(volume)
    offset, size = volume.locate(5)
    blob, claimed = mangle(volume.read_blob(offset, size), size)
    end = volume.dat_size()
    with pytest.raises(VolumeError, match=message):
        volume.write_blob(50, blob, claimed)
    assert volume.dat_size() == end and volume.locate(50) is None


def test_blob_write_to_read_only_volume_is_refused(volume) -> None:
    fill(volume)
    offset, size = volume.locate(1)
    blob = volume.read_blob(offset, size)
    volume.mark_read_only(persist=False)
    with pytest.raises(ReadOnlyVolume):
        volume.write_blob(60, blob, size)


def test_read_blob_past_the_end_fails(volume) -> None:
    fill(volume)
    with pytest.raises(VolumeError, match="EOF"):
        volume.read_blob(volume.dat_size(), 10)
    with pytest.raises(VolumeError):
        volume.read_blob(8, -5)


def test_meta_of_live_and_deleted_entries(volume) -> None:
    fill(volume)
    offset, size = volume.locate(5)
    meta = volume.read_meta_at(offset, size)
    stored = volume.read_needle(5)
    assert (meta.cookie, meta.checksum, meta.name, meta.last_modified) == (
        stored.cookie,
        stored.checksum,
        b"file5.txt",
        1_700_000_000,
    )
    assert meta.append_at_ns == stored.append_at_ns and meta.data == b""
    # Needle 2 was deleted: its tombstone carries the cookie and checksum, and a later time.
    tombstone_offset = [r.offset for r in scan_records(volume.dat, 3, 8) if r.needle_id == 2][-1]
    deleted = volume.read_meta_at(tombstone_offset, -1)
    assert deleted.cookie == 0xABCD
    assert deleted.append_at_ns > meta.append_at_ns
    with pytest.raises(ValueError, match="size mismatch"):
        volume.read_meta_at(offset, size + 8)


def test_scan_of_a_tail_written_record_matches_the_needle(volume) -> None:
    """A record rebuilt from header and body, as the tail receiver does, is the needle."""
    fill(volume)
    record = list(scan_records(volume.dat, 3, 8))[0]
    rebuilt = Needle.from_bytes(record.header + record.body, 3)
    assert rebuilt.data == b"record 1 " and rebuilt.id == 1
