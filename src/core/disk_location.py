"""One data directory (``-dir``): its volumes, ``vol_dir.uuid``, limits and free space.

Mirrors ``weed/storage/disk_location.go``: volumes are found by their ``.idx`` or ``.vif``
file, named ``<collection>_<vid>`` (the collection is everything before the last ``_``);
a volume that fails to load is logged and skipped, never deleted (only the files of a copy
that never finished, marked by its ``.note``, are removed at start, as Go removes them).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from .erasure_coding.encoder import remove_ec_files
from .erasure_coding.layout import MAX_SHARD_COUNT, shard_ext
from .errors import InvalidCollection, VolumeError
from .goparse import GoNumError, parse_uint
from .heap import trim_heap
from .needle_map.builtin import builtin_kinds
from .ports import NeedleMapKind
from .store_ec import interrupted_encode
from .types import OffsetWidth
from .volume.loading import open_volume
from .volume.sharing import ProcessView
from .volume.volume import (
    VOLUME_FILE_SUFFIXES,
    Volume,
    check_collection,
    remove_side_files,
    remove_volume_file,
)
from .volume_info import load_volume_info

if TYPE_CHECKING:
    from .tier import TierRegistry

log = logging.getLogger(__name__)

UUID_FILE_NAME = "vol_dir.uuid"
_VOLUME_SUFFIXES = (".idx", ".vif")


def validate_new_collection(collection: str) -> None:
    """A new volume's collection: a safe file name part (``check_collection``), and not one
    that would hide among dot files or read as a parent reference."""
    check_collection(collection)
    if ".." in collection or collection.startswith("."):
        raise InvalidCollection(f"invalid collection name {collection!r}")


class DiskStatus(TypedDict):
    dir: str
    all: int
    used: int
    free: int
    percent_free: float
    percent_used: float


def disk_status(directory: str) -> DiskStatus:
    """Size, use and free space of a directory's file system, as ``/status`` and
    VolumeServerStatus report them (Go's ``stats.NewDiskStatus``)."""
    stat = os.statvfs(directory)
    total = stat.f_blocks * stat.f_frsize
    free = stat.f_bavail * stat.f_frsize
    used = total - free
    return {
        "dir": directory,
        "all": total,
        "used": used,
        "free": free,
        "percent_free": round(free * 100 / total, 6) if total else 0,
        "percent_used": round(used * 100 / total, 6) if total else 0,
    }


def parse_volume_file_name(name: str) -> tuple[str, int] | None:
    """(collection, vid) of ``<collection>_<vid>.idx|.vif``; ``None`` for other files."""
    if not name.endswith(_VOLUME_SUFFIXES):
        return None
    base = name[:-4]
    collection = ""
    cut = base.rfind("_")
    if cut > 0:
        collection, base = base[:cut], base[cut + 1 :]
    try:
        return collection, parse_uint(base, 10, 32)
    except GoNumError:
        return None


_FREE_SPACE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}


@dataclass(frozen=True, slots=True)
class MinFreeSpace:
    """``-minFreeSpace``: a percentage of the disk (``1``, ``5.5``) or bytes (``10GiB``)."""

    percent: float = 1.0
    bytes: int = 0

    @classmethod
    def parse(cls, text: str) -> MinFreeSpace:
        text = text.strip()
        if not text:
            return cls()
        match = re.fullmatch(r"([0-9.]+)\s*([A-Za-z]*)", text)
        if not match:
            raise ValueError(f"invalid minFreeSpace {text!r}")
        number, unit = float(match.group(1)), match.group(2).lower()
        if not unit:
            if not 0 <= number <= 100:
                raise ValueError(f"minFreeSpace percent {text} should be in [0, 100]")
            return cls(percent=number)
        if unit not in _FREE_SPACE_UNITS:
            raise ValueError(f"invalid minFreeSpace unit in {text!r}")
        return cls(percent=0.0, bytes=int(number * _FREE_SPACE_UNITS[unit]))

    def is_low(self, free: int, total: int) -> bool:
        if self.bytes:
            return free < self.bytes
        return total > 0 and free * 100.0 / total < self.percent


class DiskLocation:
    def __init__(
        self,
        directory: str,
        max_volume_count: int,
        *,
        needle_map_kind: NeedleMapKind,
        default_width: OffsetWidth = OffsetWidth.FOUR,
        min_free_space: MinFreeSpace | None = None,
        disk_type: str = "",
        tags: tuple[str, ...] = (),
        known_kinds: Sequence[NeedleMapKind] | None = None,
    ) -> None:
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.max_volume_count = max_volume_count
        self.needle_map_kind = needle_map_kind
        self.known_kinds: tuple[NeedleMapKind, ...] = tuple(
            builtin_kinds() if known_kinds is None else known_kinds
        )
        """Every registered needle-map kind: a volume's side files left by any of them (a
        restart with another ``-index``) are removed with the volume and on vacuum."""
        self.default_width = default_width
        self.min_free_space = min_free_space or MinFreeSpace()
        self.disk_type = disk_type
        self.tiers: TierRegistry | None = None
        """The store's tier registry, for volumes whose ``.dat`` is remote."""
        self.tags = tags
        self.uuid = self._read_or_create_uuid()
        self.volumes: dict[int, Volume] = {}
        self.is_disk_space_low = False
        self.total_bytes = 0
        self.free_bytes = 0
        """The filesystem's size and space free to unprivileged users, as last checked."""
        self.view: ProcessView | None = None
        """With ``-workers``: every volume added here is shared with the other processes."""
        self._lock = threading.RLock()

    def _read_or_create_uuid(self) -> str:
        path = os.path.join(self.directory, UUID_FILE_NAME)
        try:
            with open(path, encoding="utf-8") as src:
                existing = src.read()
            if existing:
                return existing
        except FileNotFoundError:
            pass
        fresh = str(uuid.uuid4())
        with open(path, "w", encoding="utf-8") as out:
            out.write(fresh)
        return fresh

    # --- loading -----------------------------------------------------------------------------
    def discover(self, at_start: bool = False) -> list[tuple[str, int]]:
        """Every (collection, vid) with a ``.dat`` and an ``.idx`` or ``.vif`` here, sorted.
        ``at_start``: leave out volumes whose EC shards are here (Go's startup rule; an
        explicit mount, as ``ec.decode`` does, still finds them)."""
        found: set[tuple[str, int]] = set()
        for name in os.listdir(self.directory):
            parsed = parse_volume_file_name(name)
            if parsed is None:
                continue
            base = os.path.join(self.directory, name[:-4])
            if os.path.exists(base + ".note"):
                if at_start and not os.path.exists(base + ".ecx"):
                    _sweep_unfinished(base, (self.needle_map_kind, *self.known_kinds))
                else:
                    log.warning("volume %s was not completed; skipping it", name[:-4])
                continue
            if not os.path.exists(base + ".dat") and not _tiered(base):
                continue
            if at_start and os.path.exists(base + ".ecx") and not _drop_unfinished_encode(base):
                log.info("%s: erasure-coded, so its .dat is not loaded as a volume", name[:-4])
                continue
            found.add(parsed)
        return sorted(found, key=lambda item: (item[1], item[0]))

    def load_existing_volumes(self, concurrency: int = 4) -> None:
        """Load every volume of the directory concurrently; failures are logged and skipped."""
        self.check_disk_space()
        candidates = [c for c in self.discover(at_start=True) if c[1] not in self.volumes]
        if not candidates:
            return

        def load(candidate: tuple[str, int]) -> None:
            collection, vid = candidate
            try:
                volume = self.open(collection, vid)
            except (VolumeError, OSError, ValueError) as err:
                log.error("skipping volume %s in %s: %s", vid, self.directory, err)
                return
            self.add_volume(volume)
            log.info(
                "loaded volume %d (collection=%r, version %d, %d files, offsets %d bytes%s)",
                vid,
                collection,
                volume.version,
                volume.file_count - volume.deleted_count,
                volume.width,
                ", read only" if volume.is_read_only else "",
            )

        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(candidates)))) as pool:
            list(pool.map(load, candidates))
        trim_heap()
        log.info(
            "store started on dir %s with %d volumes max %d",
            self.directory,
            len(self.volumes),
            self.max_volume_count,
        )

    def open(self, collection: str, vid: int, **create: Any) -> Volume:
        """Open (or, with ``create=True`` and its settings, create) a volume in this directory."""
        return open_volume(
            self.directory,
            collection,
            vid,
            needle_map_kind=self.needle_map_kind,
            default_width=self.default_width,
            tiers=self.tiers,
            side_kinds=self.known_kinds,
            **create,
        )

    def load_volume(self, collection: str, vid: int) -> Volume:
        volume = self.open(collection, vid)
        self.add_volume(volume)
        trim_heap()
        return volume

    # --- bookkeeping -------------------------------------------------------------------------
    def find_volume(self, vid: int) -> Volume | None:
        return self.volumes.get(vid)

    def find_volume_files(self, vid: int) -> str | None:
        """The collection of an unmounted volume whose files are here, else ``None``."""
        for collection, found_vid in self.discover():
            if found_vid == vid:
                return collection
        return None

    def add_volume(self, volume: Volume) -> None:
        volume.disk_space_low = self.is_disk_space_low
        if self.view is not None and volume.view is None:
            volume.share(self.view)
        with self._lock:
            self.volumes[volume.id] = volume

    def remove_volume(self, vid: int) -> Volume | None:
        with self._lock:
            return self.volumes.pop(vid, None)

    @property
    def free_volume_slots(self) -> int:
        return self.max_volume_count - len(self.volumes)

    def check_disk_space(self) -> bool:
        """Refresh and return whether free space is under ``-minFreeSpace``."""
        stat = os.statvfs(self.directory)
        free = stat.f_bavail * stat.f_frsize
        total = stat.f_blocks * stat.f_frsize
        self.total_bytes, self.free_bytes = total, free
        low = self.min_free_space.is_low(free, total)
        if low != self.is_disk_space_low:
            log.warning(
                "dir %s free space is %s: its volumes are %s",
                self.directory,
                "low" if low else "ok again",
                "read only" if low else "writable",
            )
        changed = low != self.is_disk_space_low
        self.is_disk_space_low = low
        with self._lock:
            for volume in self.volumes.values():
                volume.disk_space_low = low
        if changed and self.view is not None:
            self.view.announce()
        return low

    def close(self) -> None:
        with self._lock:
            for volume in self.volumes.values():
                volume.close()
            self.volumes.clear()


def _sweep_unfinished(base: str, kinds: Sequence[NeedleMapKind]) -> None:
    """A ``.note`` marks a copy that never finished (VolumeCopy writes it first and removes it
    last): at start Go removes that volume's files (``loadExistingVolume``), and so do we. The
    source still holds the volume; with an ``.ecx`` here nothing is touched."""
    try:
        with open(base + ".note", errors="replace") as src:
            note = src.read(200)
    except OSError:
        note = ""
    log.warning("volume %s was not completed: %s; removing its files", base, note)
    for suffix in VOLUME_FILE_SUFFIXES:
        remove_volume_file(base + suffix)
    remove_side_files(kinds, base)


def _drop_unfinished_encode(base: str) -> bool:
    """With an ``.ecx`` beside a ``.dat``, the EC set wins, as in Go, unless it is the rest of
    an encode that never finished: then it is removed and the ``.dat`` loads (True)."""
    shard_ids = [
        i
        for i in range(MAX_SHARD_COUNT)
        if os.path.exists(base + shard_ext(i)) and os.path.getsize(base + shard_ext(i))
    ]
    if not interrupted_encode(base, shard_ids):
        return False
    log.warning("%s: shards of an unfinished encode beside its .dat; removed", base)
    remove_ec_files(base)
    return True


def _tiered(base: str) -> bool:
    """The volume's ``.dat`` lives on a remote tier (its ``.vif`` lists the remote file)."""
    try:
        info = load_volume_info(base + ".vif")
    except ValueError:
        return False
    return bool(info and info.has_remote_file)
