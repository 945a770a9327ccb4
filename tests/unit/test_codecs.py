"""Golden vectors for the on-disk codecs, written by hand from the Go source."""

from __future__ import annotations

import pytest

from seaweed_volume.core.crc import crc32c_of, crc_matches, legacy_crc_value
from seaweed_volume.core.file_id import (
    FileId,
    FileIdError,
    format_needle_id_cookie,
    parse_needle_path,
)
from seaweed_volume.core.goparse import GoNumError, parse_bool
from seaweed_volume.core.idx import decode_entry, encode_entry, iter_entries, parse_columns
from seaweed_volume.core.needle.record import (
    Needle,
    NeedleCorrupted,
    NeedleSizeMismatch,
)
from seaweed_volume.core.replica_placement import ReplicaPlacement, ReplicaPlacementError
from seaweed_volume.core.super_block import SuperBlock, SuperBlockError
from seaweed_volume.core.ttl import TTL, TTLError
from seaweed_volume.core.types import OffsetWidth, actual_size, encode_offset, padding_length
from seaweed_volume.core.volume_info import RemoteFile, VolumeInfo

# --- file ids -------------------------------------------------------------------------------


def test_file_id_round_trip() -> None:
    fid = FileId.parse("3,01637037d6")
    assert fid == FileId(3, 0x01, 0x637037D6)
    assert str(fid) == "3,01637037d6"
    # Leading zero *bytes* of the id are dropped, but not a zero nibble inside a byte.
    assert format_needle_id_cookie(0x123, 0xAB) == "0123000000ab"
    assert format_needle_id_cookie(0, 0x12345678) == "12345678"


@pytest.mark.parametrize(
    ("fid", "message"),
    [
        ("3", "wrong fid format"),
        (",0112345678", "wrong fid format"),
        ("3,12345678", "KeyHash is too short."),
        ("3," + "1" * 25, "KeyHash is too long."),
        (
            "3,zz12345678",
            'Parse needleId error: needle id zz format error: strconv.ParseUint: parsing "zz": '
            "invalid syntax",
        ),
        (
            "3,011234567x",
            "Parse cookie error: needle cookie 1234567x format error: strconv.ParseUint: "
            'parsing "1234567x": invalid syntax',
        ),
        ("x,0112345678", 'strconv.ParseUint: parsing "x": invalid syntax'),
    ],
)
def test_file_id_errors_match_go(fid: str, message: str) -> None:
    with pytest.raises(FileIdError) as err:
        FileId.parse(fid)
    assert str(err.value) == message


def test_needle_path_delta_suffix() -> None:
    assert parse_needle_path("0112345678_3") == (0x01 + 3, 0x12345678)
    with pytest.raises(FileIdError, match="Invalid fid: 1234"):
        parse_needle_path("1234")
    with pytest.raises(FileIdError, match='parsing "x": invalid syntax'):
        parse_needle_path("0112345678_x")
    with pytest.raises(FileIdError, match="overflows needle id"):
        parse_needle_path("ffffffffffffffff12345678_1")


def test_parse_bool_accepts_exactly_go_spellings() -> None:
    for text in ("1", "t", "T", "true", "TRUE", "True"):
        assert parse_bool(text) is True
    for text in ("0", "f", "F", "false", "FALSE", "False"):
        assert parse_bool(text) is False
    for text in ("yes", "tRUE", ""):
        with pytest.raises(GoNumError):
            parse_bool(text)


# --- TTL and replica placement ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("3m", "3m"),
        ("4h", "4h"),
        ("5d", "5d"),
        ("6w", "6w"),
        ("7M", "7M"),
        ("8y", "8y"),
        ("7d", "1w"),
        ("60m", "1h"),
        ("24h", "1d"),
        ("30d", "1M"),
        ("365d", "1y"),
        ("90", "90m"),  # all digits: minutes
        ("300m", "5h"),
        ("5x", ""),  # unknown unit: no TTL, no error (as Go)
        ("0m", ""),
    ],
)
def test_ttl_parse_normalises_like_go(text: str, expected: str) -> None:
    assert str(TTL.parse(text)) == expected


def test_ttl_encoding() -> None:
    ttl = TTL.parse("3d")
    assert ttl.to_bytes() == bytes([3, 3])
    assert ttl.to_uint32() == 0x0303
    assert TTL.from_bytes(b"\x03\x03") == ttl
    assert TTL.from_uint32(0x0303) == ttl
    assert ttl.seconds == 3 * 86400
    with pytest.raises(TTLError, match='strconv.Atoi: parsing "x": invalid syntax'):
        TTL.parse("xm")


def test_replica_placement() -> None:
    assert ReplicaPlacement.parse("") == ReplicaPlacement(0, 0, 0)
    assert ReplicaPlacement.parse("1") == ReplicaPlacement(0, 0, 1)
    assert ReplicaPlacement.parse("12") == ReplicaPlacement(0, 1, 2)
    rp = ReplicaPlacement.parse("201")
    assert rp.to_byte() == 201 and str(rp) == "201" and rp.copy_count == 4
    assert ReplicaPlacement.from_byte(201) == rp
    with pytest.raises(ReplicaPlacementError, match="unknown replication type: 00-"):
        ReplicaPlacement.parse("00-")
    with pytest.raises(ReplicaPlacementError, match="unexpected replication type: 300"):
        ReplicaPlacement.parse("300")


# --- super block ----------------------------------------------------------------------------


def test_super_block_layout() -> None:
    block = SuperBlock(3, ReplicaPlacement.parse("010"), TTL.parse("2h"), 7)
    assert block.to_bytes() == bytes([3, 10, 2, 2, 0, 7, 0, 0])
    assert SuperBlock.parse(block.to_bytes()) == block
    with_extra = SuperBlock(3, extra=b"\x0a\x02\x08\x0a")
    raw = with_extra.to_bytes()
    assert raw[6:8] == b"\x00\x04" and with_extra.block_size == 12
    assert SuperBlock.parse(raw) == with_extra
    with pytest.raises(SuperBlockError, match="unsupported super block version 9"):
        SuperBlock.parse(bytes([9, 0, 0, 0, 0, 0, 0, 0]))


# --- needles --------------------------------------------------------------------------------


def _checksummed(needle: Needle) -> Needle:
    needle.update_checksum()
    return needle


def test_padding_is_never_zero() -> None:
    # v3: 16 header + size + 4 crc + 8 ts; size 4 -> 32 bytes -> a full 8 bytes of padding.
    assert padding_length(4, 3) == 8
    assert padding_length(5, 3) == 7
    assert actual_size(0, 3) == 16 + 4 + 8 + 4
    assert actual_size(0, 2) == 16 + 4 + 4


def test_needle_v3_golden_bytes() -> None:
    needle = Needle(cookie=0x01020304, id=0x0A, data=b"hello", append_at_ns=0x1122334455667788)
    needle.update_checksum()
    needle.set_name(b"a.txt")
    needle.set_mime(b"text/plain")
    needle.set_last_modified(0x0102030405)
    raw = needle.to_bytes(3)
    crc = crc32c_of(b"hello")
    body = (
        b"\x00\x00\x00\x05"
        + b"hello"
        + bytes([0x02 | 0x04 | 0x08])
        + b"\x05a.txt"
        + b"\x0atext/plain"
        + bytes.fromhex("0102030405")
    )
    size = len(body)
    assert size == 4 + 5 + 1 + 6 + 11 + 5
    header = bytes.fromhex("01020304") + (0x0A).to_bytes(8, "big") + size.to_bytes(4, "big")
    tail = crc.to_bytes(4, "big") + bytes.fromhex("1122334455667788")
    unpadded = header + body + tail
    pad = 8 - len(unpadded) % 8
    # Go pads from its scratch header: the size field, then zeros.
    expected = unpadded + (size.to_bytes(4, "big") + bytes(4))[:pad]
    assert raw == expected
    assert len(raw) == actual_size(size, 3)

    back = Needle.from_bytes(raw, 3, expected_size=size)
    assert (back.cookie, back.id, back.data, back.name, back.mime) == (
        0x01020304,
        0x0A,
        b"hello",
        b"a.txt",
        b"text/plain",
    )
    assert back.last_modified == 0x0102030405 and back.append_at_ns == 0x1122334455667788
    assert back.checksum == crc and back.etag == f"{crc:08x}"


@pytest.mark.parametrize("length", range(12))
def test_needle_v3_padding_bytes_for_every_padding_length(length: int) -> None:
    """Go pads from its scratch header (the size field, then zeros), 1 to 8 bytes."""
    needle = _checksummed(Needle(cookie=3, id=4, data=b"d" * length, append_at_ns=0xABCDEF))
    raw = needle.to_bytes(3)
    size = 4 + length + 1 if length else 0
    tail = needle.checksum.to_bytes(4, "big") + (0xABCDEF).to_bytes(8, "big")
    unpadded = 16 + size + len(tail)
    pad = 8 - unpadded % 8
    assert raw[16 + size :] == tail + (size.to_bytes(4, "big") + bytes(4))[:pad]
    assert len(raw) == actual_size(size, 3)


def test_needle_all_fields_round_trip_v2_v3() -> None:
    for version in (2, 3):
        needle = Needle(cookie=7, id=99, data=b"\x00" * 300)
        needle.set_ttl(TTL.parse("5d"))
        needle.set_pairs(b'{"k":"v"}')
        needle.flags |= 0x01 | 0x80
        needle.update_checksum()
        raw = needle.to_bytes(version)
        back = Needle.from_bytes(raw, version)
        assert back.ttl == TTL.parse("5d") and back.pairs == b'{"k":"v"}'
        assert back.is_compressed and back.is_chunk_manifest
        assert len(raw) % 8 == 0


def test_empty_needle_and_v1() -> None:
    empty = Needle(cookie=1, id=2).to_bytes(3)
    assert len(empty) == 32 and empty[12:16] == b"\x00\x00\x00\x00"
    assert Needle.from_bytes(empty, 3).data == b""
    v1 = _checksummed(Needle(cookie=1, id=2, data=b"abc")).to_bytes(1)
    assert v1[12:16] == b"\x00\x00\x00\x03" and v1[16:19] == b"abc"
    assert Needle.from_bytes(v1, 1).data == b"abc"


def test_needle_crc_and_size_errors() -> None:
    raw = bytearray(_checksummed(Needle(cookie=1, id=2, data=b"payload")).to_bytes(3))
    raw[21] ^= 0xFF  # inside the data
    with pytest.raises(NeedleCorrupted, match="invalid CRC for needle 2"):
        Needle.from_bytes(bytes(raw), 3)
    with pytest.raises(NeedleSizeMismatch, match="expected size 5"):
        Needle.from_bytes(
            _checksummed(Needle(cookie=1, id=2, data=b"payload")).to_bytes(3), 3, expected_size=5
        )


def test_legacy_crc_value_is_accepted() -> None:
    data = b"old data"
    crc = crc32c_of(data)
    assert crc_matches(crc, data)[0]
    assert crc_matches(legacy_crc_value(crc), data)[0]
    assert not crc_matches(crc ^ 1, data)[0]
    needle = _checksummed(Needle(cookie=1, id=2, data=data))
    raw = bytearray(needle.to_bytes(3))
    crc_at = 16 + needle.size
    raw[crc_at : crc_at + 4] = legacy_crc_value(crc).to_bytes(4, "big")
    assert Needle.from_bytes(bytes(raw), 3).data == data


# --- index entries ----------------------------------------------------------------------------


@pytest.mark.parametrize("width", list(OffsetWidth))
def test_idx_entries_lay_offsets_out_as_encode_offset_does(width: OffsetWidth) -> None:
    """``encode_entry`` packs the offset itself (one struct per entry, a hot path): it must
    agree with ``encode_offset``, which the leveldb map uses."""
    for units in (0, 1, 0x01020304, 0xFFFFFFFF, (0x05 << 32) | 0x01020304, (1 << 40) - 1):
        if width == OffsetWidth.FOUR and units > 0xFFFFFFFF:
            continue
        entry = encode_entry(0xABCDEF, units * 8, 1234, width)
        assert entry[8 : 8 + int(width)] == encode_offset(units * 8, width)


def test_idx_entry_4_and_5_bytes() -> None:
    four = encode_entry(0x0102, 8 * 0x01020304, 100, OffsetWidth.FOUR)
    assert four == (0x0102).to_bytes(8, "big") + bytes.fromhex("01020304") + (100).to_bytes(
        4, "big"
    )
    assert len(four) == 16
    big = 8 * ((0x05 << 32) | 0x01020304)
    five = encode_entry(0x0102, big, -1, OffsetWidth.FIVE)
    # The fifth (highest) offset byte comes after the four low ones.
    assert five[8:13] == bytes.fromhex("0102030405") and five[13:] == b"\xff\xff\xff\xff"
    entry = decode_entry(five, OffsetWidth.FIVE)
    assert (entry.needle_id, entry.offset, entry.size) == (0x0102, big, -1)
    cols = parse_columns(five + five[:5], OffsetWidth.FIVE)  # torn tail ignored
    assert len(cols) == 1 and int(cols.offsets[0]) * 8 == big and int(cols.sizes[0]) == -1


# --- .vif -----------------------------------------------------------------------------------

GO_FRESH_VIF = (
    '{\n  "files":  [],\n  "version":  3,\n  "replication":  "",\n  "bytesOffset":  5,\n'
    '  "datFileSize":  "0",\n  "expireAtSec":  "0",\n  "readOnly":  false,\n'
    '  "ecShardConfig":  null,\n  "readOnlyCanDelete":  false\n}'
)


def test_vif_matches_go_bytes() -> None:
    info = VolumeInfo(version=3, bytes_offset=5)
    assert info.to_json() == GO_FRESH_VIF
    assert VolumeInfo.from_json(GO_FRESH_VIF) == info


def test_vif_nested_and_snake_case() -> None:
    info = VolumeInfo(
        files=[RemoteFile(backend_type="s3", key="k", file_size=12)],
        read_only=True,
        ec_shard_config={"dataShards": 10, "parityShards": 4},
    )
    text = info.to_json()
    assert '"files":  [\n    {\n      "backendType":  "s3",' in text
    assert '"fileSize":  "12"' in text
    assert VolumeInfo.from_json(text) == info
    assert VolumeInfo.from_json('{"bytes_offset": 4, "read_only": true}').bytes_offset == 4


@pytest.mark.parametrize("size", [0, 1, 100, 1024, 1786, 1787, 2048, 5000, 32000, 40000, 200_000])
def test_small_window_gzip_writes_what_gzip_compress_writes(size: int) -> None:
    import gzip
    import os

    from seaweed_volume.core.needle.parse_upload import gzip_level6

    for data in (os.urandom(size), (b"seaweed volume " * (size // 15 + 1))[:size]):
        assert gzip_level6(data) == gzip.compress(data, compresslevel=6, mtime=0)


@pytest.mark.parametrize("width", [OffsetWidth.FOUR, OffsetWidth.FIVE])
def test_iter_entries_agrees_with_decode_entry(width: OffsetWidth) -> None:
    top = width.max_volume_size - 8
    entries = [(1, 8, 100), (2**64 - 1, top, 2**31 - 1), (7, 0, -1), (9, 8 * 12345, -300)]
    raw = b"".join(encode_entry(k, o, s, width) for k, o, s in entries)
    decoded = [
        decode_entry(raw[i : i + width.entry_size], width)
        for i in range(0, len(raw), width.entry_size)
    ]
    expected = [(e.needle_id, e.offset, e.size) for e in decoded]
    assert list(iter_entries(raw + b"\x01\x02", width)) == expected == entries  # torn tail ignored
