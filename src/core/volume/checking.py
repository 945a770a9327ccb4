"""The load-time integrity check of a volume's tail (``volume_checking.go``), with repair.

Go verifies the index entry that ends the ``.dat`` (or, failing that, the one with the highest
offset) and marks the volume read-only when anything is off; a v3 record is checked by its
header and timestamp, so a bad CRC there fails only reads of it. We verify the same entry and fail
the same way, with one improvement for the common crash case: when ``.dat`` holds *complete,
CRC-valid* records after the last indexed one (the ``.idx`` append was lost), they are indexed
again (rolled forward), and a torn partial record at the very end, which was never
acknowledged, is cut off. The volume then stays writable, and Go can open it as well.
"""

from __future__ import annotations

import logging

from ..backend import DiskFile
from ..idx import decode_entry, encode_entry
from ..needle.record import Needle, NeedleError, parse_header
from ..ports import BackendFile
from ..super_block import SuperBlock
from ..types import (
    NEEDLE_CHECKSUM_SIZE,
    NEEDLE_HEADER_SIZE,
    TIMESTAMP_SIZE,
    TOMBSTONE_FILE_SIZE,
    OffsetWidth,
    actual_size,
)

log = logging.getLogger(__name__)


class IntegrityError(Exception):
    """The volume must be served read-only; ``str()`` says why, in Go's words."""


def check_and_repair_tail(
    dat: BackendFile, idx: DiskFile, super_block: SuperBlock, width: OffsetWidth, repair: bool
) -> int:
    """Verify (and with ``repair``, mend) the end of the volume; returns its last append time."""
    entry_size = width.entry_size
    index_size = idx.size()
    if index_size % entry_size:
        if not repair:
            raise IntegrityError(f"index file's size is {index_size} bytes, maybe corrupted")
        whole = index_size - index_size % entry_size
        log.warning(
            "%s: dropping a torn trailing index entry (%d bytes)", idx.name, index_size - whole
        )
        idx.truncate(whole)
        index_size = whole

    version = super_block.version
    last_append_at_ns = 0
    indexed_end = super_block.block_size
    if index_size:
        entry_pos = _tail_entry_position(dat, idx, index_size, width, version)
        if entry_pos >= 0:
            entry = decode_entry(idx.read_at(entry_size, entry_pos), width)
            if entry.offset == 0:
                return 0
            record_size = 0 if entry.size < 0 else entry.size
            last_append_at_ns = _verify_record(
                dat, entry.offset, entry.needle_id, record_size, version, width
            )
            indexed_end = entry.offset + actual_size(record_size, version)

    dat_size = dat.size()
    if dat_size < indexed_end:
        raise IntegrityError(
            f"data file {dat.name} has {dat_size} bytes, less than expected {indexed_end} bytes"
        )
    if dat_size == indexed_end:
        return last_append_at_ns
    if not repair:
        raise IntegrityError(
            f"data file {dat.name} actual {dat_size} bytes expected {indexed_end} bytes"
        )
    return _roll_forward(dat, idx, indexed_end, width, version, last_append_at_ns)


def _tail_entry_position(
    dat: BackendFile, idx: DiskFile, index_size: int, width: OffsetWidth, version: int
) -> int:
    """``findDatTailEntryOffset``: the entry ending exactly at the end of ``.dat``, else the one
    with the highest offset (-1 when every entry has offset 0)."""
    entry_size = width.entry_size
    last_pos = index_size - entry_size
    last = decode_entry(idx.read_at(entry_size, last_pos), width)
    if last.offset and last.offset + actual_size(max(last.size, 0), version) == dat.size():
        return last_pos
    from ..idx import parse_columns  # local: only needed on this slower path

    columns = parse_columns(idx.read_at(index_size, 0), width)
    if not len(columns) or not columns.offsets.any():
        return -1
    return int(columns.offsets.argmax()) * entry_size


def _verify_record(
    dat: BackendFile, offset: int, needle_id: int, size: int, version: int, width: OffsetWidth
) -> int:
    """``verifyNeedleIntegrity``: the record at ``offset`` has ``size`` (and, before v3, the
    id and a good CRC); returns its append time. A v3 record is checked by its size and
    timestamp only, as Go does: a bad CRC or a wrong key there fails reads of that entry, not
    the volume's writability."""
    if version != 3:
        return _verify_whole_record(dat, offset, needle_id, size, version, width).append_at_ns
    header = dat.read_at(NEEDLE_HEADER_SIZE, offset)
    if len(header) < NEEDLE_HEADER_SIZE:
        raise IntegrityError(f"read {dat.name} at {offset}: record is missing")
    _, found_id, found_size = parse_header(header)
    if found_size != size and width == OffsetWidth.FOUR:
        far = offset + width.max_volume_size  # the 32 GiB wrap of 4-byte offsets
        wrapped = dat.read_at(NEEDLE_HEADER_SIZE, far)
        if len(wrapped) == NEEDLE_HEADER_SIZE and parse_header(wrapped)[2] == size:
            offset, (_, found_id, found_size) = far, parse_header(wrapped)
    if found_size != size:
        raise IntegrityError(
            f"read data [{offset},{offset + size}) : size mismatch: found id {found_id:x} "
            f"size {found_size}, expected size {size}"
        )
    stamp = dat.read_at(TIMESTAMP_SIZE, offset + NEEDLE_HEADER_SIZE + size + NEEDLE_CHECKSUM_SIZE)
    if len(stamp) < TIMESTAMP_SIZE:
        raise IntegrityError(f"read {dat.name} at {offset}: record is truncated")
    return int.from_bytes(stamp, "big")


def _verify_whole_record(
    dat: BackendFile, offset: int, needle_id: int, size: int, version: int, width: OffsetWidth
) -> Needle:
    """Versions 1 and 2 carry no timestamp: Go reads the whole record, CRC included."""
    length = actual_size(size, version)
    raw = dat.read_at(length, offset)
    if len(raw) < NEEDLE_HEADER_SIZE:
        raise IntegrityError(f"read {dat.name} at {offset}: record is missing")
    try:
        needle = Needle.from_bytes(raw, version, expected_size=size, offset=offset)
    except NeedleError as err:
        if width == OffsetWidth.FOUR and "size mismatch" in str(err):
            far = offset + width.max_volume_size
            try:
                return _check_id(
                    Needle.from_bytes(dat.read_at(length, far), version, size, far), needle_id
                )
            except NeedleError:
                pass
        raise IntegrityError(f"read data [{offset},{offset + size}) : {err}") from None
    return _check_id(needle, needle_id)


def _check_id(needle: Needle, needle_id: int) -> Needle:
    if needle.id != needle_id:
        raise IntegrityError(f"index key {needle_id:x} does not match needle's Id {needle.id:x}")
    return needle


def _roll_forward(
    dat: BackendFile, idx: DiskFile, position: int, width: OffsetWidth, version: int, last_ns: int
) -> int:
    """Index complete records found after ``position``; cut off a torn record at the end.

    A record with an empty body is indexed as a deletion: that is what Go's delete writes.
    A damaged record with more bytes after it stops the walk without cutting anything
    (:class:`IntegrityError`): only a record that runs into the end of the file is torn.
    """
    dat_size = dat.size()
    recovered = 0
    damage = ""
    while position + NEEDLE_HEADER_SIZE <= dat_size:
        _, needle_id, size = parse_header(dat.read_at(NEEDLE_HEADER_SIZE, position))
        if size < 0:
            damage = f"a header with size {size}"
            break
        length = actual_size(size, version)
        if position + length > dat_size:
            break  # the record runs past the end: a torn last write
        try:
            needle = Needle.from_bytes(dat.read_at(length, position), version, size, position)
        except NeedleError as err:
            if position + length < dat_size:
                damage = str(err)  # more follows: not a torn last write
            break
        index_size = size if size > 0 else TOMBSTONE_FILE_SIZE
        idx.append(encode_entry(needle_id, position, index_size, width))
        last_ns = max(last_ns, needle.append_at_ns)
        position += length
        recovered += 1
    if recovered:
        log.warning(
            "%s: indexed %d complete records missing from %s", dat.name, recovered, idx.name
        )
    if damage:
        # Cutting here could drop complete records behind a damaged one: keep every byte and
        # serve the volume read-only, as Go does.
        idx.sync()
        raise IntegrityError(
            f"data file {dat.name}: record at {position} is damaged ({damage}), "
            f"{dat_size - position} bytes from there are not indexed"
        )
    if position < dat_size:
        log.warning(
            "%s: cutting a torn trailing write of %d bytes at %d",
            dat.name,
            dat_size - position,
            position,
        )
        dat.truncate(position)
    dat.sync()
    idx.sync()
    return last_ns
