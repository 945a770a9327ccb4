"""One volume: a ``.dat`` of needle records, its ``.idx`` log, ``.vif`` and a needle map.

The read, write and delete rules mirror ``volume_read.go`` and ``volume_write.go``: writes are
serialised by a lock, reads are lock-free ``pread``s against the needle map's answer.
Opening a volume directory (the part that decides read-only state) is in :mod:`.loading`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Final

from ..backend import DiskFile
from ..crc import crc32c_of, is_accepted
from ..errors import (
    AlreadyDeleted,
    CookieMismatch,
    InvalidCollection,
    NotFound,
    ReadOnlyVolume,
    SizeLimitExceeded,
    VolumeError,
    VolumeFull,
    VolumeNotEmpty,
    go_errno_text,
)
from ..idx import decode_entry, encode_entry, entry_of, iter_entries, parse_columns
from ..needle.record import (
    META_HEAD_SIZE,
    Needle,
    NeedleCorrupted,
    NeedleError,
    NeedleSizeMismatch,
    parse_header,
)
from ..needle_map.metrics import MapMetrics, replay
from ..ports import BackendFile, NeedleMap, NeedleMapKind
from ..super_block import SUPER_BLOCK_SIZE, SuperBlock
from ..types import (
    NEEDLE_CHECKSUM_SIZE,
    NEEDLE_HEADER_SIZE,
    TOMBSTONE_FILE_SIZE,
    OffsetWidth,
    actual_size,
)
from ..volume_info import VolumeInfo, save_volume_info
from .sharing import FileLock, ProcessView, StaleVolume

if TYPE_CHECKING:
    from .vacuum import CompactionState

log = logging.getLogger(__name__)

# Every file a volume owns itself (Go's ``removeVolumeFiles`` list); the needle map's side
# files (``.ldb``, ``.nmdb``, a plugin's) are named by its kind (``NeedleMapKind.side_files``).
VOLUME_FILE_SUFFIXES: Final = (".dat", ".idx", ".vif", ".sdx", ".cpd", ".cpx", ".cpc", ".note")


def remove_volume_file(path: str) -> None:
    """Remove one of a volume's files, or its directory (``.ldb``); a missing one is fine."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def remove_side_files(kinds: Iterable[NeedleMapKind], base_path: str) -> None:
    """Remove what every one of ``kinds`` keeps beside the volume at ``base_path``: a map
    built by another kind before a restart with another ``-index`` goes too, as it would be
    stale once the volume changes."""
    for kind in kinds:
        side_files = getattr(kind, "side_files", None)  # kinds written before the method
        for path in side_files(base_path) if side_files is not None else ():
            remove_volume_file(path)


_WRITE_PIECES_OVER: Final = 1024 * 1024
"""Records larger than this are written from their pieces (``pwritev``), not joined first."""

PAGED_READ_LIMIT: Final = 1024 * 1024
"""Records above this size may be read meta-only and streamed (``PagedReadLimit``)."""
MAX_META_SIZE: Final = 128 * 1024
"""What may follow the data of a record: name, mime, pairs, tail (needle_read_page.go)."""


MAX_COLLECTION_LENGTH: Final = 200
"""A collection is part of every file name of its volumes (``<collection>_<vid>.ecsum``):
bounded so those names stay within a file system's 255 bytes."""


def check_collection(collection: str) -> None:
    """A collection names files inside a data directory, so it must be one harmless path
    element (Go's ``checkVolumeCollection`` in volume_grpc_copy.go, applied here to every
    path built from a request, which Go's EC RPCs skip)."""
    if (
        collection in (".", "..")
        or "/" in collection
        or "\\" in collection
        or "\x00" in collection
        or len(collection.encode()) > MAX_COLLECTION_LENGTH
    ):
        raise InvalidCollection(f"invalid collection {_go_quote(collection)}")


def _go_quote(text: str) -> str:
    """``%q`` of Go for the common case: printable text in double quotes, escapes otherwise."""
    return '"' + text.encode("unicode_escape").decode().replace('"', '\\"') + '"'


def volume_base_name(collection: str, volume_id: int) -> str:
    """``<collection>_<vid>`` or just ``<vid>`` for the default collection. Every volume,
    EC and sidecar path is built from this name, so the collection is checked here once."""
    if not collection:
        return str(volume_id)
    check_collection(collection)
    return f"{collection}_{volume_id}"


class WriteResult:
    """What an append did. (A plain class: compiled, a native call to build.)"""

    __slots__ = ("offset", "size", "unchanged", "ticket")

    def __init__(self, offset: int, size: int, unchanged: bool, ticket: int = 0) -> None:
        self.offset = offset
        self.size = size
        """Data bytes of the needle (Go returns ``DataSize``)."""
        self.unchanged = unchanged
        self.ticket = ticket
        """The append's number: :meth:`Volume.sync_through` it to make it durable (0:
        nothing was appended)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WriteResult) and (
            self.offset,
            self.size,
            self.unchanged,
            self.ticket,
        ) == (other.offset, other.size, other.unchanged, other.ticket)

    def __repr__(self) -> str:
        return f"WriteResult({self.offset}, {self.size}, {self.unchanged}, {self.ticket})"


class _VolumeLock:
    """The in-process lock, then the cross-process one (:meth:`Volume._lock_files`)."""

    __slots__ = ("for_append", "volume")

    def __init__(self, volume: Volume, for_append: bool) -> None:
        self.volume = volume
        self.for_append = for_append

    def __enter__(self) -> None:
        volume = self.volume
        volume._lock.acquire()
        try:
            volume._lock_files(self.for_append)
        except BaseException:
            volume._lock.release()
            raise

    def __exit__(self, *exc_info: object) -> None:
        volume = self.volume
        volume._unlock_files()
        volume._lock.release()


class Volume:
    def __init__(
        self,
        *,
        directory: str,
        collection: str,
        volume_id: int,
        super_block: SuperBlock,
        width: OffsetWidth,
        info: VolumeInfo,
        dat: BackendFile,
        idx: DiskFile,
        needle_map: NeedleMap,
        needle_map_kind: str,
        last_append_at_ns: int = 0,
        read_only_reason: str = "",
        side_kinds: Sequence[NeedleMapKind] = (),
    ) -> None:
        self.directory = directory
        self.collection = collection
        self.id = volume_id
        self.super_block = super_block
        self.width = width
        self._size_limit = width.max_volume_size  # per append: the enum property is slow
        self.info = info
        self.dat = dat
        self.idx = idx
        self.needle_map = needle_map
        self.needle_map_kind = needle_map_kind
        self.side_kinds = tuple(side_kinds)
        """The needle-map kinds whose side files this volume's files may include (its own
        kind's, and those of the other registered kinds): removed on delete and vacuum."""
        self.last_append_at_ns = last_append_at_ns
        if info.files:  # a tiered .dat: the time it had when it was uploaded
            self.last_modified_ts_seconds = info.files[0].modified_time
        else:
            self.last_modified_ts_seconds = int(os.stat(dat.name).st_mtime) if dat.name else 0
        # Go's noWriteOrDelete / noWriteCanDelete.
        self.no_write_or_delete = bool(read_only_reason) or (
            info.read_only and not info.read_only_can_delete
        )
        self.no_write_can_delete = info.read_only and info.read_only_can_delete
        self.read_only_reason = read_only_reason
        self.read_only_metrics: MapMetrics | None = None
        """Set when the volume was loaded read-only: Go then counts with its sorted-file map
        (:func:`~..needle_map.metrics.read_only_metrics`), which a delete leaves unchanged."""
        self.compaction: CompactionState | None = None
        """The state of a finished, not yet committed compaction (see :mod:`.vacuum`)."""
        self.compacting = False
        self.compaction_guard = threading.Lock()
        self.disk_space_low = False
        """Set by the volume's DiskLocation: under ``-minFreeSpace`` every volume is read-only."""
        self._lock = threading.Lock()
        self.view: ProcessView | None = None
        """Set when other processes share this volume (see :mod:`.sharing`)."""
        self._file_lock: FileLock | None = None
        self._absorbed = idx.size() - idx.size() % width.entry_size
        """How much of the ``.idx`` the needle map holds (whole entries)."""
        # The in-process lock alone until other processes share the volume (:meth:`share`).
        self._append_lock: AbstractContextManager[object] = self._lock
        self._admin_lock: AbstractContextManager[object] = self._lock
        # Group commit for fsync'd writes: appends are numbered; one fsync covers every
        # append made before it started, so concurrent writers share it.
        self._appended = 0
        self._synced = 0
        self._last_bodiless = 0
        """The last append whose record has no body: on disk it reads as a deletion, so only
        its ``.idx`` entry (size 0, not -1) keeps it an empty needle."""
        self._sync_lock = threading.Lock()

    # --- identity ----------------------------------------------------------------------------
    @property
    def base_path(self) -> str:
        return os.path.join(self.directory, volume_base_name(self.collection, self.id))

    def file_name(self, suffix: str) -> str:
        return self.base_path + suffix

    @property
    def version(self) -> int:
        return self.super_block.version

    @property
    def is_read_only(self) -> bool:
        return (
            self.no_write_or_delete
            or self.no_write_can_delete
            or self.disk_space_low
            or self.info.has_remote_file  # a tiered .dat is never written
        )

    # --- sharing with other processes (:mod:`.sharing`) -----------------------------------
    def share(self, view: ProcessView) -> None:
        """From now on other processes may append to this volume too."""
        self.view = view
        if isinstance(self.dat, DiskFile) and self.dat.writable:
            self._file_lock = FileLock(self.dat.name)
            self._append_lock = _VolumeLock(self, for_append=True)
            self._admin_lock = _VolumeLock(self, for_append=False)

    def _absorb_index(self, size: int) -> None:
        """Apply the ``.idx`` entries other processes appended since the last look, up to
        the index's ``size`` now; the caller holds the in-process lock."""
        step = self.width.entry_size
        whole = self._absorbed + (size - self._absorbed) // step * step
        if whole <= self._absorbed:
            return
        raw = self.idx.read_at(whole - self._absorbed, self._absorbed)
        self.idx.note_size(whole)
        needle_map = self.needle_map
        offset = size = 0
        entries = [entry_of(raw, self.width)] if len(raw) == step else iter_entries(raw, self.width)
        for key, offset, size in entries:
            if offset and size >= 0:
                needle_map.put(key, offset, size)
            else:
                needle_map.delete(key)
        self._absorbed = whole
        if offset:
            # The last entry names the last record appended: the .dat ends after it.
            self._note_foreign_append(offset, max(size, 0))

    def follow_tail(self) -> None:
        """Opened as a follower (no integrity check): take the ``.dat`` end and the last
        append time from the last ``.idx`` entry, as if another process had just made it."""
        step = self.width.entry_size
        if self._absorbed >= step:
            last = decode_entry(self.idx.read_at(step, self._absorbed - step), self.width)
            if last.offset:
                self._note_foreign_append(last.offset, max(last.size, 0))

    def _note_foreign_append(self, offset: int, size: int) -> None:
        end = offset + actual_size(size, self.version)
        self.dat.note_size(end)
        if self.version == 3:
            stamp_at = offset + NEEDLE_HEADER_SIZE + size + NEEDLE_CHECKSUM_SIZE
            stamp = int.from_bytes(self.dat.read_at(8, stamp_at), "big")
            self.last_append_at_ns = max(self.last_append_at_ns, stamp)
            written = stamp // 1_000_000_000
        else:
            written = int(time.time())  # no append time in the record: about now
        self.last_modified_ts_seconds = max(self.last_modified_ts_seconds, written)

    def _catch_up(self) -> None:
        """Before a lookup: absorb what other processes appended (one ``lseek`` if none)."""
        if self.view is None or self.idx.closed:
            return
        size = self.idx.on_disk_size()
        if size != self._absorbed:
            with self._lock:
                self._absorb_index(self.idx.on_disk_size())

    def _lock_files(self, for_append: bool) -> None:
        """Take the cross-process lock (the in-process one is held) and catch up; for an
        append, refuse a volume this process no longer sees as the server does."""
        if self._file_lock is None:
            return
        self._file_lock.acquire()
        try:
            if for_append and self.view is not None and not self.view.is_current():
                raise StaleVolume(f"volume {self.id} changed in another process")
            size = self.idx.on_disk_size()
            if size != self._absorbed:
                self._absorb_index(size)
            self._cut_unindexed_tail()
        except BaseException:
            self._file_lock.release()
            raise

    def _unlock_files(self) -> None:
        if self._file_lock is not None:
            self._file_lock.release()

    def _cut_unindexed_tail(self) -> None:
        """A process that died between its ``.dat`` write and its ``.idx`` entry left bytes
        that were never acknowledged: cut them before appending after them."""
        on_disk = self.dat.on_disk_size()
        if on_disk > self.dat.size():
            log.warning(
                "volume %d: cutting %d unindexed bytes a dead process left at %d",
                self.id,
                on_disk - self.dat.size(),
                self.dat.size(),
            )
            self.dat.truncate(self.dat.size())

    def _announce(self) -> None:
        """Tell the other processes the volume's state changed (under its locks)."""
        if self.view is not None:
            self.view.announce()

    def announce_swap(self) -> None:
        """The files were replaced (vacuum commit, tier move) while the caller holds
        :meth:`write_lock`: a process about to append to the old ones must follow first."""
        self._announce()

    # --- statistics (what heartbeats and /status report) ------------------------------------
    @property
    def metrics(self) -> MapMetrics:
        """Go's counts: those of its read-only map for a volume loaded read-only, until it is
        marked writable again; else the needle map's."""
        if self.read_only_metrics is not None:
            return self.read_only_metrics
        self._catch_up()  # with what other processes appended
        return self.needle_map.metrics

    @property
    def file_count(self) -> int:
        return self.metrics.file_count

    @property
    def deleted_count(self) -> int:
        return self.metrics.deletion_count

    @property
    def content_size(self) -> int:
        return self.metrics.file_bytes

    @property
    def deleted_size(self) -> int:
        return self.metrics.deletion_bytes

    @property
    def max_file_key(self) -> int:
        return self.metrics.max_file_key

    def dat_size(self) -> int:
        self._catch_up()
        return self.dat.size()

    def dat_stat(self) -> tuple[int, int]:
        """(bytes, modification time in seconds) of the ``.dat`` wherever it is: the file
        here, or what the ``.vif`` recorded of the remote one (Go's ``FileStat``)."""
        if self.info.files:
            remote = self.info.files[0]
            return remote.file_size, remote.modified_time
        stat = os.stat(self.file_name(".dat"))
        return stat.st_size, int(stat.st_mtime)

    def idx_size(self) -> int:
        self._catch_up()
        return self.idx.size()

    # --- TTL volumes (volume.go: expired, expiredLongEnough) ---------------------------------
    def expired(self, volume_size_limit: int, now: float | None = None) -> bool:
        """A TTL volume whose last write is older than its TTL (only once the master has
        told us its size limit, and never an empty volume)."""
        ttl_minutes = self.super_block.ttl.minutes
        if volume_size_limit == 0 or self.dat_size() <= SUPER_BLOCK_SIZE or ttl_minutes == 0:
            return False
        lived_minutes = (int(now or time.time()) - self.last_modified_ts_seconds) // 60
        return ttl_minutes < lived_minutes

    def expired_long_enough(self, max_delay_minutes: int, now: float | None = None) -> bool:
        """Expired for a tenth of its TTL more (at most ``max_delay_minutes``): delete it."""
        ttl_minutes = self.super_block.ttl.minutes
        if ttl_minutes == 0:
            return False
        delay = min(ttl_minutes // 10, max_delay_minutes)
        return (ttl_minutes + delay) * 60 + self.last_modified_ts_seconds < int(now or time.time())

    # --- reads -------------------------------------------------------------------------------
    def read_needle(
        self,
        needle_id: int,
        cookie: int | None = None,
        read_deleted: bool = False,
        meta_only: bool = False,
        size_limit: int | None = None,
    ) -> Needle:
        """Go's ``readNeedle`` plus the handler's cookie check.

        ``meta_only`` (Go's ``AttemptMetaOnly``): a record over :data:`PAGED_READ_LIMIT`
        comes back without its data, to be streamed with :meth:`read_needle_data`; compressed
        needles and chunk manifests are always read whole, as Go does.

        Raises :class:`NotFound` (unknown, or expired by TTL), :class:`AlreadyDeleted`,
        :class:`CookieMismatch`, :class:`SizeLimitExceeded` (a record over ``size_limit``,
        before reading it), or a :class:`~..needle.record.NeedleError` for bad bytes.
        """
        offset, size = self._live_entry(needle_id, read_deleted)
        if size_limit is not None and size > size_limit:
            raise SizeLimitExceeded(size)
        if size == 0:
            needle = Needle(id=needle_id, cookie=self._read_cookie(offset))
        elif meta_only and size > PAGED_READ_LIMIT and self.version >= 2:
            needle = self._read_meta(offset, size)
            if needle.is_compressed or needle.is_chunk_manifest:
                needle = self._read_record(offset, size)
        else:
            needle = self._read_record(offset, size)
        if cookie is not None and needle.cookie != cookie:
            raise CookieMismatch(f"cookie mismatch: expected {needle.cookie:x} got {cookie:x}")
        if self._expired(needle):
            raise NotFound()
        return needle

    def locate(self, needle_id: int) -> tuple[int, int] | None:
        """(offset, size) the index holds for a needle; size negative once deleted."""
        if self.view is not None:
            self._catch_up()
        return self.needle_map.get(needle_id)

    def live_blob(self, needle_id: int, offset: int, size: int) -> bytes | None:
        """The stored bytes of a live needle, unparsed, when the index still places it at
        ``offset`` with ``size`` (Go's ``ReadNeedleBlob`` after a lookup); ``None`` when it
        moved, was deleted or compacted away. Callers that keep a decoded copy of the record
        revalidate it this way and check the CRC themselves."""
        if self.locate(needle_id) != (offset, size):
            return None
        return self.dat.read_at(actual_size(size, self.version), offset)

    def read_blob(self, offset: int, size: int) -> bytes:
        """The whole stored record at ``offset`` of body ``size``, unchecked: what replicas
        and copies ship between servers (``Volume.ReadNeedleBlob``)."""
        if size < 0:
            raise VolumeError(f"invalid needle size {size}")
        length = actual_size(size, self.version)
        blob = self.dat.read_at(length, offset)
        if len(blob) < length:
            raise VolumeError(f"EOF: {len(blob)} of {length} bytes at offset {offset}")
        return blob

    def read_meta_at(self, offset: int, size: int) -> Needle:
        """Everything but the data of the record at ``offset`` (``readNeedleMetaAt``). A
        deleted entry's negative size reads its tombstone, whose cookie, checksum and append
        time are the deleted needle's."""
        if size > 0:
            return self._read_meta(offset, size)
        record = self.dat.read_at(actual_size(0, self.version), offset)
        if len(record) < NEEDLE_HEADER_SIZE + NEEDLE_CHECKSUM_SIZE:
            raise NeedleCorrupted(f"needle at offset {offset} is truncated")
        cookie, found_id, found_size = parse_header(record)
        if found_size != 0:
            raise NeedleSizeMismatch(
                f"size mismatch for entry at offset {offset}: found id {found_id:x} size "
                f"{found_size}, expected size 0"
            )
        needle = Needle(cookie=cookie, id=found_id)
        needle.checksum = int.from_bytes(record[16:20], "big")
        if self.version == 3 and len(record) >= 28:
            needle.append_at_ns = int.from_bytes(record[20:28], "big")
        return needle

    def _live_entry(self, needle_id: int, read_deleted: bool) -> tuple[int, int]:
        entry = self.locate(needle_id)
        if entry is None or entry[0] == 0:
            raise NotFound()
        offset, size = entry
        if size < 0:
            if read_deleted and size != TOMBSTONE_FILE_SIZE:
                return offset, -size
            raise AlreadyDeleted()
        return offset, size

    def _read_meta(self, offset: int, size: int) -> Needle:
        head = self.dat.read_at(META_HEAD_SIZE, offset)
        if len(head) < META_HEAD_SIZE:
            raise NeedleCorrupted(f"needle at offset {offset} is truncated")
        if parse_header(head)[2] != size and self.width == OffsetWidth.FOUR:
            offset += self.width.max_volume_size  # the 32 GiB wrap, as in _read_record
            head = self.dat.read_at(META_HEAD_SIZE, offset)
        found_id, found_size = parse_header(head)[1:]
        if found_size != size:
            raise NeedleSizeMismatch(
                f"size mismatch for entry at offset {offset}: found id {found_id:x} size "
                f"{found_size}, expected size {size}"
            )
        data_size = int.from_bytes(head[NEEDLE_HEADER_SIZE:META_HEAD_SIZE], "big")
        meta_start = offset + META_HEAD_SIZE + data_size
        meta_length = offset + actual_size(size, self.version) - meta_start
        if not 0 <= meta_length <= MAX_META_SIZE:
            raise NeedleCorrupted(
                f"invalid needle meta size {meta_length}: DataSize={data_size}, size={size}, "
                f"offset={offset}"
            )
        meta = self.dat.read_at(meta_length, meta_start)
        return Needle.meta_from_bytes(head, meta, self.version, offset)

    def read_needle_data(
        self, needle: Needle, start: int, length: int, chunk_size: int = 1024 * 1024
    ) -> Iterator[bytes]:
        """The data of a meta-only needle from ``start``, in chunks (``readNeedleDataInto``).

        A vacuum commit between chunks moves the record: its new place is looked up again.
        Reading the whole data checks its CRC at the end; as in Go the answer is on its way
        by then, so a mismatch can only be logged.
        """
        revision = self.super_block.compaction_revision
        base = needle.data_offset
        position, end = start, start + length
        running = 0
        while position < end:
            if self.super_block.compaction_revision != revision:
                revision = self.super_block.compaction_revision
                base = self._live_entry(needle.id, read_deleted=False)[0] + META_HEAD_SIZE
            piece = self.dat.read_at(min(chunk_size, end - position), base + position)
            if not piece:
                raise NeedleCorrupted(f"needle {needle.id:x} data is truncated")
            running = crc32c_of(piece, running)
            position += len(piece)
            yield piece
        if start == 0 and length == needle.data_size and not is_accepted(needle.checksum, running):
            log.error(
                "volume %d needle %x: invalid CRC (got %08x, want %08x), data on disk corrupted",
                self.id,
                needle.id,
                running,
                needle.checksum,
            )

    def _read_cookie(self, offset: int) -> int:
        return parse_header(self.dat.read_at(NEEDLE_HEADER_SIZE, offset))[0]

    def _read_record(self, offset: int, size: int) -> Needle:
        length = actual_size(size, self.version)
        try:
            return Needle.from_bytes(self.dat.read_at(length, offset), self.version, size, offset)
        except NeedleSizeMismatch:
            # 4-byte offsets wrap past 32 GiB; Go retries one wrap further (``ReadData``).
            if self.width != OffsetWidth.FOUR:
                raise
            far = offset + self.width.max_volume_size
            return Needle.from_bytes(self.dat.read_at(length, far), self.version, size, far)

    @staticmethod
    def _expired(needle: Needle) -> bool:
        """TTL expiry counts from the append time (``readNeedle`` in volume_read.go)."""
        if not needle.has_ttl or not needle.has_last_modified:
            return False
        minutes = needle.ttl.minutes
        if minutes == 0:
            return False
        return time.time_ns() >= needle.append_at_ns + minutes * 60 * 1_000_000_000

    # --- writes ------------------------------------------------------------------------------
    def write_needle(
        self, needle: Needle, check_cookie: bool = True, fsync: bool = False
    ) -> WriteResult:
        """Append a needle (``writeNeedle2``/``doWriteRequest``).

        ``needle.checksum`` must already hold the CRC of its data, as Go's upload parsing sets.
        """
        if needle.ttl.count == 0 and self.super_block.ttl:
            needle.set_ttl(self.super_block.ttl)
        with self._append_lock:
            result = self._append_needle(needle, check_cookie)
        if fsync and result.ticket:
            self.sync_through(result.ticket)
        return result

    def _append_needle(self, needle: Needle, check_cookie: bool) -> WriteResult:
        """The append itself; the caller holds the append locks."""
        if self.is_read_only:
            raise ReadOnlyVolume(f"volume {self.id} is read only")
        existing = self.needle_map.get(needle.id)
        if existing is not None and self._is_unchanged(needle, existing):
            return WriteResult(0, len(needle.data), True)
        if existing is not None:
            stored_cookie = self._read_cookie(existing[0])
            if needle.cookie == 0 and not check_cookie:
                needle.cookie = stored_cookie
            if stored_cookie != needle.cookie:
                raise CookieMismatch(f"mismatching cookie {needle.cookie:x}")
        offset = self._append(needle)
        if existing is None or existing[0] < offset:
            self._index_put(needle.id, offset, needle.size)
        self.last_modified_ts_seconds = max(self.last_modified_ts_seconds, needle.last_modified)
        if not needle.size:
            self._last_bodiless = self._appended + 1  # set before the count a sync reads
        self._appended += 1
        return WriteResult(offset, len(needle.data), False, self._appended)

    def sync_through(self, ticket: int) -> None:
        """Return once append ``ticket`` is on disk. Writers queue on one lock; whoever holds
        it syncs everything appended so far, so the writers that queued behind find their
        appends already covered (group commit).

        Only ``.dat`` is synced, as Go's write worker does (volume_write.go): the load-time
        check indexes again every complete record that ``.idx`` lost (:mod:`.checking`), so
        an entry is not needed to find a durable record. Except a record without a body,
        which reads as a deletion: while one is among the appends covered, ``.idx`` is
        synced too. (A volume marked read-only is not repaired at load: marking one syncs
        its ``.idx`` first, :meth:`mark_read_only`.)"""
        if self._synced >= ticket:
            return
        with self._sync_lock:
            if self._synced >= ticket:
                return
            covered = self._appended
            self.dat.sync()
            if self._last_bodiless > self._synced:
                self.idx.sync()
            self._synced = covered

    def _is_unchanged(self, needle: Needle, entry: tuple[int, int], any_ttl: bool = False) -> bool:
        """Go skips rewriting identical content (same cookie, CRC and bytes) without a TTL
        (``any_ttl``: with one too, as ``WriteNeedleBlob`` does); ``entry`` is what the index
        holds for the needle."""
        if self.super_block.ttl and not any_ttl:
            return False
        if entry[0] == 0 or entry[1] <= 0:
            return False
        try:
            old = self._read_record(*entry)
        except Exception as err:  # noqa: BLE001 - Go logs and writes anew
            log.info("failed to check updated file at offset %d size %d: %s", *entry, err)
            return False
        return (
            old.cookie == needle.cookie
            and old.checksum == needle.checksum
            and old.data == needle.data
        )

    def _append(self, needle: Needle) -> int:
        """Stamp the append time and write the record at the end of ``.dat``."""
        needle.append_at_ns = max(time.time_ns(), self.last_append_at_ns + 1)
        pieces = needle.to_pieces(self.version)
        # A large record is written with one pwritev, not copied whole; others joined once.
        whole = len(needle.data) > _WRITE_PIECES_OVER
        record = None if whole else b"".join(pieces)
        length = actual_size(needle.size, self.version) if record is None else len(record)
        end = self.dat.size()
        limit = self._size_limit
        if end >= limit and needle.data:
            raise VolumeFull(f"Volume Size {end} Exceeded {limit}")
        content_size = self.needle_map.metrics.file_bytes  # under the lock: caught up
        if limit < content_size + length:
            raise VolumeFull(f"volume size limit {limit} exceeded! current size is {content_size}")
        try:
            if record is None:
                self.dat.write_pieces_at(pieces, end)
            else:
                self.dat.write_at(record, end)
        except OSError as err:
            with contextlib.suppress(OSError):
                self.dat.truncate(end)
            name = self.dat.name
            raise VolumeError(
                f"append to volume {self.id} size {needle.size} actualSize {length}: "
                f"failed to write {length} bytes to {name} at offset {end}: "
                f"write {name}: {go_errno_text(err)}"
            ) from err
        self.last_append_at_ns = needle.append_at_ns
        return end

    def write_blob(self, needle_id: int, blob: bytes, size: int) -> bool:
        """Append a record shipped whole from another server (``Volume.WriteNeedleBlob``);
        ``False`` when the same content is already stored.

        The blob must be one record of body ``size``, exactly as :meth:`read_blob` returns
        it: anything else is refused before a byte is written. Its header may name another
        needle (Go indexes it under ``needle_id`` all the same: a clone). A v3 record gets this
        volume's next append time, so its history stays ordered.
        """
        with self._append_lock:
            if self.is_read_only:
                raise ReadOnlyVolume(f"volume {self.id} is read only")
            if len(blob) < NEEDLE_HEADER_SIZE:
                raise VolumeError(
                    f"needle {needle_id} blob of {len(blob)} bytes is shorter than a needle header"
                )
            blob_size = parse_header(blob)[2]
            if blob_size != size:
                raise VolumeError(
                    f"needle {needle_id} size {size} does not match its blob header size "
                    f"{blob_size}"
                )
            length = actual_size(size, self.version)
            if len(blob) != length:
                raise VolumeError(
                    f"needle {needle_id} blob of {len(blob)} bytes is not one record of "
                    f"{length} bytes"
                )
            limit = self.width.max_volume_size
            content_size = self.needle_map.metrics.file_bytes  # under the lock: caught up
            if limit < content_size + len(blob):
                raise VolumeFull(
                    f"volume size limit {limit} exceeded! current size is {content_size}"
                )
            existing = self.needle_map.get(needle_id)
            if existing is not None and existing[1] == size and size > 0:
                try:
                    new = Needle.from_bytes(blob, self.version, size)
                except NeedleError:
                    new = None
                if new is not None and self._is_unchanged(new, existing, any_ttl=True):
                    return False
            stamp = max(time.time_ns(), self.last_append_at_ns + 1)
            if self.version == 3:
                at = NEEDLE_HEADER_SIZE + size + NEEDLE_CHECKSUM_SIZE
                blob = blob[:at] + stamp.to_bytes(8, "big") + blob[at + 8 :]
            end = self.dat.size()
            try:
                self.dat.write_at(blob, end)
            except OSError:
                self.dat.truncate(end)
                raise
            self.last_append_at_ns = stamp
            self._index_put(needle_id, end, size)
            self._appended += 1
            return True

    def _index_put(self, needle_id: int, offset: int, size: int) -> None:
        self.idx.append(encode_entry(needle_id, offset, size, self.width))
        self._absorbed = self.idx.size()
        self.needle_map.put(needle_id, offset, size)

    def delete_needle(self, needle_id: int, cookie: int) -> int:
        """Append a tombstone (``doDeleteRequest``); returns the deleted body size, 0 if none.

        The tombstone record keeps the deleted needle's cookie and checksum, as Go's does.
        """
        with self._append_lock:
            if self.no_write_or_delete:
                raise ReadOnlyVolume(f"volume {self.id} is read only")
            entry = self.needle_map.get(needle_id)
            if entry is None or entry[1] < 0:
                return 0
            offset, size = entry
            checksum_raw = self.dat.read_at(
                NEEDLE_CHECKSUM_SIZE, offset + NEEDLE_HEADER_SIZE + size
            )
            tombstone = Needle(
                cookie=cookie, id=needle_id, checksum=int.from_bytes(checksum_raw, "big")
            )
            tombstone_offset = self._append(tombstone)
            self.idx.append(
                encode_entry(needle_id, tombstone_offset, TOMBSTONE_FILE_SIZE, self.width)
            )
            self._absorbed = self.idx.size()
            self.needle_map.delete(needle_id)
            return size

    # --- state changes -----------------------------------------------------------------------
    def save_info(self) -> None:
        save_volume_info(self.file_name(".vif"), self.info)

    def mark_read_only(self, persist: bool, can_delete: bool = False) -> None:
        """``can_delete``: refuse writes but still take deletes (``noWriteCanDelete``)."""
        with self._admin_lock:
            if can_delete:
                self.no_write_can_delete = True
            else:
                self.no_write_or_delete = True
            if persist:
                if not self.idx.closed:
                    # fsync'd uploads synced only .dat; a volume loaded read-only is not
                    # repaired, so its index must hold them before the flag is on disk.
                    self.idx.sync()
                self.info.read_only = True
                self.info.read_only_can_delete = can_delete
                self.save_info()
            self._announce()

    def mark_writable(self) -> None:
        with self._admin_lock:
            self.no_write_or_delete = False
            self.no_write_can_delete = False
            self.read_only_reason = ""
            if self.read_only_metrics is not None:
                # Go swaps its read-only map for a writable one built from .idx
                # (``reopenIdxForWrite``): the counts become those of a replay.
                self.read_only_metrics = None
                columns = parse_columns(self.idx.read_at(self.idx.size(), 0), self.width)
                self.needle_map.metrics = replay(columns, self.version).metrics
            if self.info.read_only:
                self.info.read_only = False
                self.info.read_only_can_delete = False
                self.save_info()
            self._announce()

    def sync(self) -> None:
        with self._lock:
            self.dat.sync()
            self.idx.sync()
            sync = getattr(self.needle_map, "sync", None)
            if sync is not None:
                sync()

    def write_lock(self) -> AbstractContextManager[object]:
        """The lock every append holds (across processes too); vacuum's commit and tier
        moves hold it across their swaps."""
        return self._admin_lock

    def close_files(self) -> None:
        """Flush and close everything; the caller holds :meth:`write_lock`."""
        if self.dat.closed:
            return
        if self.dat.writable:
            self.dat.sync()
            self.idx.sync()
        self.needle_map.close()
        self.dat.close()
        self.idx.close()

    def close(self) -> None:
        with self._lock:
            self.close_files()

    def destroy(self, only_empty: bool = False, keep_vif: bool = False) -> None:
        """Close and remove every file of the volume (``Volume.Destroy``); ``keep_vif`` when
        erasure-coded shards of the volume share its ``.vif``."""
        if only_empty and self.file_count - self.deleted_count > 0:
            raise VolumeNotEmpty()
        self.close()
        for suffix in VOLUME_FILE_SUFFIXES:
            if keep_vif and suffix == ".vif":
                continue
            remove_volume_file(self.file_name(suffix))
        remove_side_files(self.side_kinds, self.base_path)
