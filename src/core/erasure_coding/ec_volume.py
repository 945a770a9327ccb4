"""A mounted erasure-coded volume: its sorted index, deletion journal and local shards
(ec_volume.go, ec_locate.go, ec_volume_delete.go).

A needle is found by binary search in ``.ecx`` (entries sorted by needle id, in the ``.idx``
format); its bytes in the original ``.dat`` are mapped onto shard intervals by the row layout
(:mod:`.layout`). Deletes are appended to ``.ecj`` (8-byte needle ids) and kept in memory; an
``.ecx`` entry whose size is the tombstone also counts as deleted (older Go wrote those).

Go's EC ``.vif`` does not record the offset width of ``.ecx`` entries (its width is a build
option), so a ``.vif`` without one is read by the entries themselves: 16- or 17-byte entries,
whichever the file size and sorted keys allow (:func:`infer_index_width`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import AlreadyDeleted, NotFound, VolumeError
from ..idx import decode_entry
from ..types import TOMBSTONE_FILE_SIZE, OffsetWidth, actual_size
from ..volume.sharing import FileLock
from ..volume.volume import volume_base_name
from ..volume_info import load_volume_info
from .encoder import ShardCounts
from .layout import LARGE_BLOCK, SMALL_BLOCK, shard_ext

log = logging.getLogger(__name__)

NEEDLE_ID_SIZE = 8


class EcVolumeError(VolumeError):
    pass


class MissingEcIndex(EcVolumeError):
    """No ``.ecx`` where the shards are nor on the disk named for their index."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A piece of a needle's record: ``length`` bytes of shard ``shard_id`` at ``offset``."""

    shard_id: int
    offset: int
    length: int


def locate(
    offset: int,
    length: int,
    shard_dat_size: int,
    data_shards: int,
    large_block: int = LARGE_BLOCK,
    small_block: int = SMALL_BLOCK,
) -> list[Interval]:
    """Where bytes ``[offset, offset+length)`` of the ``.dat`` live in the shards
    (``LocateData`` and ``ToShardIdAndOffset``); ``shard_dat_size`` is the ``.dat`` size
    divided by the data shard count."""
    large_rows = shard_dat_size // large_block
    large_area = large_rows * large_block * data_shards
    is_large = offset < large_area
    if is_large:
        block_index, inner = divmod(offset, large_block)
    else:
        block_index, inner = divmod(offset - large_area, small_block)
    intervals = []
    while length > 0:
        block = large_block if is_large else small_block
        take = min(length, block - inner)
        row, shard_id = divmod(block_index, data_shards)
        if is_large:
            shard_offset = row * large_block + inner
        else:
            shard_offset = large_rows * large_block + row * small_block + inner
        intervals.append(Interval(shard_id, shard_offset, take))
        length -= take
        block_index += 1
        inner = 0
        if is_large and block_index == large_rows * data_shards:
            is_large, block_index = False, 0
    return intervals


def infer_index_width(
    raw_size: int, read_at: Callable[[int, int], bytes], default: OffsetWidth
) -> OffsetWidth:
    """The entry width of a sorted index whose writer did not record it: the width that
    divides the file and reads its keys in ascending order (the default when both do)."""
    candidates = [w for w in (OffsetWidth.FOUR, OffsetWidth.FIVE) if raw_size % w.entry_size == 0]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates or raw_size == 0:
        return default
    sample = read_at(min(raw_size, 272 * 64), 0)
    sorted_widths = []
    for width in candidates:
        step = width.entry_size
        keys = [
            int.from_bytes(sample[i : i + 8], "big") for i in range(0, len(sample) - step + 1, step)
        ]
        if all(a < b for a, b in zip(keys, keys[1:], strict=False)):
            sorted_widths.append(width)
    return sorted_widths[0] if len(sorted_widths) == 1 else default


def _file_size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except (FileNotFoundError, NotADirectoryError):
        return None


def _resolve_index_base(local: str, shared: str) -> str:
    """The base whose ``.ecx`` indexes the shards at ``local``: a non-empty local one, else a
    non-empty one at ``shared``, else whichever exists (an empty ``.ecx`` is a valid index of
    a volume without live needles, but yields to a real one elsewhere: Go's ``NewEcVolume``)."""
    local_size = _file_size(local + ".ecx")
    shared_size = _file_size(shared + ".ecx") if shared != local else None
    if local_size:
        return local
    if shared_size:
        return shared
    if local_size is not None:
        return local
    if shared_size is not None:
        return shared
    where = local + ".ecx" if shared == local else f"{local}.ecx (or {shared}.ecx)"
    raise MissingEcIndex(f"cannot open ec volume index {where}: no such file or directory")


class EcShard:
    def __init__(self, path: str, shard_id: int) -> None:
        self.shard_id = shard_id
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self.size = os.fstat(self._fd).st_size

    def read_at(self, length: int, offset: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class EcVolume:
    def __init__(
        self,
        directory: str,
        collection: str,
        volume_id: int,
        disk_type: str = "",
        default_width: OffsetWidth = OffsetWidth.FOUR,
        index_directory: str | None = None,
    ) -> None:
        """``index_directory``: a sibling disk whose ``.ecx``/``.ecj`` (and ``.vif``, when
        this disk has none) serve shards that sit here without an index of their own."""
        self.directory = directory
        self.collection = collection
        self.id = volume_id
        self.disk_type = disk_type
        name = volume_base_name(collection, volume_id)
        self.base = os.path.join(directory, name)
        self.index_base = _resolve_index_base(
            self.base, os.path.join(index_directory or directory, name)
        )
        """Where ``.ecx`` and ``.ecj`` are: beside the shards, or on the sibling disk."""
        ecx_path = self.index_base + ".ecx"
        vif_path = self.base + ".vif"
        if not os.path.exists(vif_path) and os.path.exists(self.index_base + ".vif"):
            vif_path = self.index_base + ".vif"
        info = load_volume_info(vif_path)
        self.version = info.version if info and info.version else 3
        self.dat_file_size = info.dat_file_size if info else 0
        self.expire_at_sec = info.expire_at_sec if info else 0
        config = (info.ec_shard_config if info else None) or {}
        self.encode_ts_ns = int(config.get("encodeTsNs", 0) or 0)
        self.counts = ShardCounts.from_info(info)
        self._ecx = os.open(ecx_path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        self.ecx_size = os.fstat(self._ecx).st_size
        if info and info.bytes_offset:
            self.width = OffsetWidth.parse(info.bytes_offset)
        else:
            self.width = infer_index_width(self.ecx_size, self._read_ecx, default_width)
        self._journal_lock = threading.Lock()
        self._ecj = os.open(
            self.index_base + ".ecj", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644
        )
        self._journal_file_lock = FileLock(self.index_base + ".ecj")
        self.deleted: set[int] = set()
        self._journal_read = 0
        self._read_journal()
        self.shards: dict[int, EcShard] = {}

    def _read_journal(self) -> None:
        """Absorb the ``.ecj`` deletes not seen yet: other processes of this server journal
        deletes too (one ``lseek`` when there are none)."""
        end = os.lseek(self._ecj, 0, os.SEEK_END)
        whole = end - end % NEEDLE_ID_SIZE
        if whole <= self._journal_read:
            return
        journal = os.pread(self._ecj, whole - self._journal_read, self._journal_read)
        self.deleted.update(
            int.from_bytes(journal[i : i + NEEDLE_ID_SIZE], "big")
            for i in range(0, len(journal), NEEDLE_ID_SIZE)
        )
        self._journal_read = whole

    # --- shards ------------------------------------------------------------------------------
    def add_shard(self, shard_id: int) -> EcShard:
        """Open ``.ecNN`` (already open: the same shard again, as Go's re-mount is)."""
        if shard_id in self.shards:
            return self.shards[shard_id]
        shard = EcShard(self.base + shard_ext(shard_id), shard_id)
        self.shards[shard_id] = shard
        return shard

    def remove_shard(self, shard_id: int) -> bool:
        shard = self.shards.pop(shard_id, None)
        if shard is None:
            return False
        shard.close()
        return True

    @property
    def shard_bits(self) -> int:
        bits = 0
        for shard_id in self.shards:
            bits |= 1 << shard_id
        return bits

    def shard_sizes(self) -> list[int]:
        return [self.shards[i].size for i in sorted(self.shards)]

    # --- index -------------------------------------------------------------------------------
    def _read_ecx(self, length: int, offset: int) -> bytes:
        return os.pread(self._ecx, length, offset)

    @property
    def entry_count(self) -> int:
        return self.ecx_size // self.width.entry_size

    def find(self, needle_id: int) -> tuple[int, int, int] | None:
        """(entry index, ``.dat`` offset, size) of a needle in ``.ecx``; the size is the
        tombstone once the needle was deleted (``FindNeedleFromEcx``)."""
        step = self.width.entry_size
        if self._ecj >= 0:
            self._read_journal()
        low, high = 0, self.entry_count
        while low < high:
            middle = (low + high) // 2
            entry = decode_entry(self._read_ecx(step, middle * step), self.width)
            if entry.needle_id == needle_id:
                size = TOMBSTONE_FILE_SIZE if needle_id in self.deleted else entry.size
                return middle, entry.offset, size
            if entry.needle_id < needle_id:
                low = middle + 1
            else:
                high = middle
        return None

    def locate_needle(self, needle_id: int) -> tuple[int, int, list[Interval]]:
        """(offset, size, intervals) of a live needle; :class:`NotFound` or
        :class:`AlreadyDeleted` otherwise."""
        found = self.find(needle_id)
        if found is None:
            raise NotFound("needle not found")
        _, offset, size = found
        if size < 0:
            raise AlreadyDeleted()
        length = actual_size(size, self.version)
        return offset, size, locate(offset, length, self.shard_dat_size, self.counts.data)

    @property
    def shard_dat_size(self) -> int:
        if self.dat_file_size > 0:
            return self.dat_file_size // self.counts.data
        first = next(iter(self.shards.values()), None)
        return first.size if first else 0

    def delete_needle(self, needle_id: int) -> bool:
        """Journal a delete (``DeleteNeedleFromEcx``): ``False`` if the needle is unknown or
        already deleted. The journal is fsynced before the delete counts."""
        found = self.find(needle_id)
        if found is None or found[2] < 0:
            return False
        with self._journal_lock:
            self._journal_file_lock.acquire()
            try:
                self._read_journal()
                if needle_id in self.deleted:
                    return False
                end = self._journal_read
                try:
                    os.pwrite(self._ecj, needle_id.to_bytes(NEEDLE_ID_SIZE, "big"), end)
                    os.fsync(self._ecj)
                except OSError:
                    os.ftruncate(self._ecj, end)
                    raise
                self.deleted.add(needle_id)
                self._journal_read = end + NEEDLE_ID_SIZE
            finally:
                self._journal_file_lock.release()
        return True

    def index_counts(self) -> tuple[int, int, int]:
        """(total size, live entries, tombstoned entries) over ``.ecx``, journal deletes not
        counted (``VolumeEcShardsInfo`` reads them this way)."""
        step = self.width.entry_size
        raw = self._read_ecx(self.ecx_size, 0)
        total = live = dead = 0
        for at in range(0, len(raw) - step + 1, step):
            size = decode_entry(raw[at : at + step], self.width).size
            if size < 0:
                dead += 1
                total += 0 if size == TOMBSTONE_FILE_SIZE else -size
            else:
                live += 1
                total += size
        return total, live, dead

    def sync(self) -> None:
        os.fsync(self._ecx)
        os.fsync(self._ecj)

    def close(self) -> None:
        for shard in self.shards.values():
            shard.close()
        self.shards.clear()
        for fd in (self._ecx, self._ecj):
            try:
                os.close(fd)
            except OSError:
                pass
        self._ecx = self._ecj = -1
        self._journal_file_lock.close()
