"""Vacuum: copy a volume's live needles into ``.cpd``/``.cpx``, then swap them in.

Mirrors ``volume_vacuum.go`` (``CompactByIndex``, ``CommitCompact``, ``makeupDiff``):

* compact reads the ``.idx`` as it stands, copies each live needle in key order to ``.cpd``
  (whose super block carries compaction revision + 1), drops TTL-expired ones, and writes
  the sorted ``.cpx``; writes keep landing in the old files meanwhile;
* commit, under the volume lock, replays the index entries appended since (the diff) onto the
  new files, writes a durable ``.cpc`` marker, renames ``.cpd``->``.dat`` and ``.cpx``->``.idx``,
  and removes the marker. A crash after the marker rolls forward at the next load, a crash
  before it rolls back (:func:`reconcile_compaction`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..backend import reserve_blocks
from ..errors import VolumeError
from ..idx import encode_entry, parse_columns
from ..needle.record import Needle, NeedleError
from ..needle_map.metrics import replay
from ..ports import NeedleMapKind
from ..super_block import SUPER_BLOCK_SIZE, SuperBlock
from ..types import NEEDLE_PADDING_SIZE, actual_size
from ..write_throttle import WriteThrottle
from .volume import Volume, remove_side_files, remove_volume_file

log = logging.getLogger(__name__)

ProgressFn = Callable[[int], bool]
"""Called with the source offset reached; returning False interrupts the compaction."""

_FAKE_DELETE_COOKIE = 0x12345678


@dataclass
class CompactionState:
    index_size: int
    revision: int


def garbage_level(volume: Volume) -> float:
    """``garbageLevel``: deleted bytes over content bytes, from the dat size when unknown."""
    content = volume.content_size
    if content == 0:
        return 0.0
    deleted = volume.deleted_size
    if volume.deleted_count > 0 and deleted == 0:
        dat_size = volume.dat_size()
        deleted = dat_size - content - SUPER_BLOCK_SIZE
        content = dat_size
    return deleted / content


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compact(
    volume: Volume,
    preallocate: int = 0,
    bytes_per_second: int = 0,
    progress: ProgressFn | None = None,
) -> CompactionState:
    """Write ``.cpd``/``.cpx`` from the volume's current index (``CompactByIndex``).

    A compaction that was never committed is simply replaced, as in Go; only one copy runs
    at a time per volume.
    """
    with volume.compaction_guard:
        if volume.compacting:
            raise VolumeError(f"volume {volume.id} is compacting")
        volume.compacting = True
    try:
        volume.dat.sync()
        volume.idx.sync()
        index_size = volume.idx_size()  # with what other processes appended
        state = CompactionState(index_size, volume.super_block.compaction_revision)
        volume.compaction = None
        try:
            _copy_live_needles(volume, index_size, preallocate, bytes_per_second, progress)
        except BaseException:
            for suffix in (".cpd", ".cpx"):
                _remove(volume.file_name(suffix))
            raise
        volume.compaction = state
        return state
    finally:
        volume.compacting = False


def _copy_live_needles(
    volume: Volume,
    index_size: int,
    preallocate: int,
    bytes_per_second: int,
    progress: ProgressFn | None,
) -> None:
    version = volume.version
    state = replay(parse_columns(volume.idx.read_at(index_size, 0), volume.width), version)
    new_block = volume.super_block.with_compaction_revision(
        volume.super_block.compaction_revision + 1
    )
    header = new_block.to_bytes()
    now = int(time.time())
    ttl_seconds = volume.super_block.ttl.minutes * 60
    throttle = WriteThrottle(bytes_per_second)
    entries: list[bytes] = []
    skipped = 0
    with open(volume.file_name(".cpd"), "wb") as out:
        if preallocate > 0:
            try:
                reserve_blocks(out.fileno(), preallocate)
            except OSError as err:
                log.warning("preallocate %s: %s", out.name, err)
        out.write(header)
        position = len(header)
        for key, units, size in zip(
            state.keys.tolist(), state.offsets.tolist(), state.sizes.tolist(), strict=True
        ):
            if units == 0 or size < 0:
                continue
            offset = units * NEEDLE_PADDING_SIZE
            if progress is not None and not progress(offset):
                raise VolumeError("interrupted")
            length = actual_size(size, version)
            raw = volume.dat.read_at(length, offset)
            try:
                needle = Needle.from_bytes(raw, version, size, offset)
            except NeedleError as err:
                skipped += 1
                log.warning(
                    "vacuum volume %d: dropping unreadable needle key=%d offset=%d size=%d: %s",
                    volume.id,
                    key,
                    offset,
                    size,
                    err,
                )
                continue
            if needle.has_ttl and now >= needle.last_modified + ttl_seconds:
                continue
            out.write(raw)
            entries.append(encode_entry(key, position, size, volume.width))
            position += length
            throttle.wrote(length)
        out.flush()
        os.fsync(out.fileno())
    with open(volume.file_name(".cpx"), "wb") as out:
        out.write(b"".join(entries))
        out.flush()
        os.fsync(out.fileno())
    if skipped:
        log.warning("vacuum volume %d: dropped %d unreadable needles", volume.id, skipped)


def commit(volume: Volume) -> None:
    """Apply the diff since :func:`compact`, then swap the files in (``CommitCompact``).

    The caller reloads the volume from the swapped files afterwards.
    """
    state = volume.compaction
    if state is None:
        raise VolumeError(f"volume {volume.id} has no compaction to commit")
    try:
        with volume.write_lock():
            _make_up_diff(volume, state)
            volume.close_files()
            marker = volume.file_name(".cpc")
            with open(marker, "wb") as out:
                out.flush()
                os.fsync(out.fileno())
            _fsync_dir(volume.directory)
            finish_swap(volume.directory, volume.base_path, volume.side_kinds)
            volume.announce_swap()
    except BaseException:
        for suffix in (".cpd", ".cpx"):
            if not os.path.exists(volume.file_name(".cpc")):
                _remove(volume.file_name(suffix))
        raise
    finally:
        volume.compaction = None


def _make_up_diff(volume: Volume, state: CompactionState) -> None:
    """Copy what changed since compaction started onto the new files (``makeupDiff``)."""
    index_size = volume.idx.size()
    if index_size <= state.index_size:
        return
    revision = SuperBlock.parse(volume.dat.read_at(SUPER_BLOCK_SIZE, 0)).compaction_revision
    if revision != state.revision:
        raise VolumeError(
            f"current old dat file's compact revision {revision} is not the expected one "
            f"{state.revision}"
        )
    tail = parse_columns(
        volume.idx.read_at(index_size - state.index_size, state.index_size), volume.width
    )
    latest: dict[int, tuple[int, int]] = {}
    for key, units, size in zip(
        tail.keys.tolist(), tail.offsets.tolist(), tail.sizes.tolist(), strict=True
    ):
        latest[key] = (units * NEEDLE_PADDING_SIZE, size)
    version = volume.version
    with open(volume.file_name(".cpd"), "r+b") as dat, open(volume.file_name(".cpx"), "ab") as idx:
        end = dat.seek(0, os.SEEK_END)
        for key, (offset, size) in latest.items():
            end += -end % NEEDLE_PADDING_SIZE
            if offset and size > 0:
                dat.seek(end)
                dat.write(volume.dat.read_at(actual_size(size, version), offset))
                idx.write(encode_entry(key, end, size, volume.width))
                end += actual_size(size, version)
            else:
                tombstone = Needle(cookie=_FAKE_DELETE_COOKIE, id=key, append_at_ns=time.time_ns())
                dat.seek(end)
                dat.write(tombstone.to_bytes(version))
                idx.write(encode_entry(key, end, size, volume.width))
                end += actual_size(0, version)
        dat.flush()
        os.fsync(dat.fileno())
        idx.flush()
        os.fsync(idx.fileno())


def finish_swap(directory: str, base_path: str, kinds: Iterable[NeedleMapKind]) -> None:
    """Rename ``.cpd``/``.cpx`` over ``.dat``/``.idx`` and drop the marker (roll forward)."""
    for new, old in ((".cpd", ".dat"), (".cpx", ".idx")):
        if os.path.exists(base_path + new):
            os.replace(base_path + new, base_path + old)
    # On-disk needle maps mirror the old .idx: their kinds build them again from the new one.
    remove_volume_file(base_path + ".sdx")
    remove_side_files(kinds, base_path)
    _fsync_dir(directory)
    _remove(base_path + ".cpc")
    _fsync_dir(directory)


def reconcile_compaction(directory: str, base_path: str, kinds: Iterable[NeedleMapKind]) -> None:
    """At load: finish a commit whose marker survived a crash, or drop orphan copies."""
    if os.path.exists(base_path + ".cpc"):
        log.info("%s: rolling forward an interrupted compaction commit", base_path)
        finish_swap(directory, base_path, kinds)
        return
    for suffix in (".cpd", ".cpx"):
        if os.path.exists(base_path + suffix):
            log.info("%s: rolling back orphan compaction file %s", base_path, suffix)
            _remove(base_path + suffix)


def cleanup(volume: Volume) -> None:
    """``cleanupCompact``: forget an uncommitted compaction."""
    if os.path.exists(volume.file_name(".cpc")):
        raise VolumeError(f"volume {volume.id}: refusing cleanup while commit marker present")
    volume.compaction = None
    for suffix in (".cpd", ".cpx"):
        _remove(volume.file_name(suffix))


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
