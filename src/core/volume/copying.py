"""Copying a whole volume from another server (``VolumeCopy`` in volume_grpc_copy.go).

The destination pulls ``.dat``, ``.idx`` and ``.vif`` through the peer's ``CopyFile`` stream,
checks the sizes against what the peer reported before the copy, and mounts the result. A
``.note`` beside the files marks the copy as unfinished, so a crash mid-copy leaves files that
are removed at the next start (as Go removes them) instead of a volume that loads half a file.

The peer is a port (:class:`VolumePeer`); the gRPC adapter implements it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..backend import reserve_blocks
from ..errors import NoFreeSpace, VolumeError
from ..write_throttle import WriteThrottle
from .volume import volume_base_name

if TYPE_CHECKING:
    from ..store import Store

log = logging.getLogger(__name__)

COPY_EVERYTHING = 0xFFFFFFFF
"""A ``CopyFile`` compaction revision that skips the "is compacted" check (MaxUint32)."""
VIF_COPY_LIMIT = 1024 * 1024


class CopyRequestError(VolumeError):
    """A ``CopyFile``/``ReceiveFile`` request naming a file outside the volume directory."""


def check_file_extension(ext: str) -> None:
    """A dot and letters or digits only (``.dat``, ``.ec07``, ``.ecsum``): a client-supplied
    extension becomes part of a path (``checkVolumeFileExtension``)."""
    if len(ext) < 2 or ext[0] != "." or not (ext[1:].isascii() and ext[1:].isalnum()):
        raise CopyRequestError(f'invalid file extension "{ext}"')


@dataclass(frozen=True, slots=True)
class PeerVolumeFiles:
    """What the source reports of its volume before the copy (``ReadVolumeFileStatus``)."""

    collection: str
    dat_size: int
    idx_size: int
    dat_mtime_seconds: int
    compaction_revision: int
    disk_type: str
    version: int
    has_remote_dat: bool
    """The ``.dat`` lives in a remote tier: only ``.idx`` and ``.vif`` are copied."""


@dataclass(frozen=True, slots=True)
class FileChunk:
    content: bytes
    modified_ts_ns: int = 0
    """Set on the first chunk of an existing file only."""


class VolumePeer(Protocol):
    """Another volume server, as a copy sees it."""

    address: str

    def volume_files(self, vid: int) -> PeerVolumeFiles: ...

    def copy_file(
        self,
        vid: int,
        collection: str,
        ext: str,
        compaction_revision: int,
        stop_offset: int,
        ignore_missing: bool,
        is_ec: bool = False,
    ) -> Iterator[FileChunk]: ...


def receive_file(
    chunks: Iterable[FileChunk],
    path: str,
    *,
    optional: bool = False,
    throttle: WriteThrottle | None = None,
    progress: Callable[[int], bool] | None = None,
    preallocate: int = 0,
) -> int:
    """Write a ``CopyFile`` stream to ``path``; return the source's modification time in ns,
    0 when the source had no such file (then nothing is left at ``path``).

    An ``optional`` file is written beside ``path`` and renamed over it only when complete,
    so a source without it cannot truncate a good local copy (``writeToFile``). A failure
    or a ``progress`` callback answering ``False`` removes the partial file. ``preallocate``
    bytes of disk are reserved for the file first, its size unchanged (a failure to reserve is
    only logged, as Go ignores ``Fallocate``'s error).
    """
    target = path + ".copying" if optional else path
    modified = 0
    written = 0
    try:
        with open(target, "wb") as out:
            if preallocate > 0:
                try:
                    reserve_blocks(out.fileno(), preallocate)
                except OSError as err:
                    log.warning("preallocate %s: %s", target, err)
            for chunk in chunks:
                if chunk.modified_ts_ns:
                    modified = chunk.modified_ts_ns
                out.write(chunk.content)
                written += len(chunk.content)
                if progress is not None and not progress(written):
                    raise VolumeError("interrupted copy operation")
                if throttle is not None:
                    throttle.wrote(len(chunk.content))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(target)
        raise
    if modified == 0:
        os.remove(target)
        return 0
    if optional:
        os.replace(target, path)
    return modified


def _set_mtime(path: str, modified_ns: int) -> None:
    if modified_ns > 0:
        os.utime(path, ns=(modified_ns, modified_ns))


@dataclass
class VolumeCopy:
    """One ``VolumeCopy`` run: pull the files into a free location of this store and mount
    them. ``progress(bytes)`` is told how much ``.dat`` arrived; returning ``False`` stops."""

    store: Store
    peer: VolumePeer
    vid: int
    collection: str = ""
    disk_type: str = ""
    bytes_per_second: int = 0
    progress: Callable[[int], bool] | None = None
    preallocate: int = 0
    """Bytes to reserve for the new ``.dat``: the volume size limit when the master runs with
    ``-volumePreallocate`` (``VolumeCopy`` in weed/server/volume_grpc_copy.go). Reserved on
    the staged file that becomes the ``.dat``; Go reserves the ``.dat`` and then renames its
    staged copy over it, which drops the reservation."""

    def run(self) -> int:
        """Copy and mount; return the append time of the last record copied (ns)."""
        existing = self.store.find_volume(self.vid) is not None
        try:
            files = self.peer.volume_files(self.vid)
        except VolumeError as err:
            raise VolumeError(f"read volume file status failed, {err}") from err
        if existing:
            # Only now that the source proved it holds the volume: a transient source outage
            # must not cost the replica we have.
            log.info(
                "volume %d already exists; deleting it before copying from %s",
                self.vid,
                self.peer.address,
            )
            self.store.delete_volume(self.vid)
        disk_type = to_disk_type(self.disk_type or files.disk_type)
        needed = files.idx_size if files.has_remote_dat else files.dat_size
        location = self.store.free_location(disk_type, needed_bytes=needed)
        if location is None:
            raise NoFreeSpace(f"no space left for disk type {disk_type or 'hdd'}")
        base = os.path.join(location.directory, volume_base_name(files.collection, self.vid))
        with open(base + ".note", "w", encoding="utf-8") as note:
            note.write(f"copying from {self.peer.address}")
        try:
            self._pull(files, base)
            os.remove(base + ".note")
            self._check_sizes(files, base)
            volume = self.store.mount_volume(self.vid)
        except BaseException:
            for suffix in (".dat", ".idx", ".vif", ".note"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(base + suffix)
            raise
        # Loading found the last record's append time (v3 keeps one per record); without it,
        # the source's .dat modification time stands in, as in Go.
        last = 0 if files.has_remote_dat else volume.last_append_at_ns
        return last or files.dat_mtime_seconds * 1_000_000_000

    def _pull(self, files: PeerVolumeFiles, base: str) -> None:
        throttle = WriteThrottle(self.bytes_per_second)

        def fetch(ext: str, stop: int, optional: bool) -> Iterator[FileChunk]:
            return self.peer.copy_file(
                self.vid, self.collection, ext, files.compaction_revision, stop, optional
            )

        if not files.has_remote_dat:
            modified = receive_file(
                fetch(".dat", files.dat_size, True),
                base + ".dat",
                optional=True,
                throttle=throttle,
                progress=self.progress,
                preallocate=self.preallocate,
            )
            _set_mtime(base + ".dat", modified)
        modified = receive_file(
            fetch(".idx", files.idx_size, False), base + ".idx", throttle=throttle
        )
        _set_mtime(base + ".idx", modified)
        modified = receive_file(
            fetch(".vif", VIF_COPY_LIMIT, True), base + ".vif", optional=True, throttle=throttle
        )
        _set_mtime(base + ".vif", modified)

    @staticmethod
    def _check_sizes(files: PeerVolumeFiles, base: str) -> None:
        """Only sizes are compared (``checkCopyFiles``); an empty source index may be absent."""
        idx = base + ".idx"
        if os.path.exists(idx):
            if os.path.getsize(idx) != files.idx_size:
                raise VolumeError(
                    f"idx file {idx} size [{os.path.getsize(idx)}] is not same as origin file "
                    f"size [{files.idx_size}]"
                )
        elif files.idx_size != 0:
            raise VolumeError(f"stat idx file {idx} failed: no such file or directory")
        if files.has_remote_dat:
            return
        dat = base + ".dat"
        if not os.path.exists(dat):
            raise VolumeError(f"get dat file info failed, stat {dat}: no such file or directory")
        if os.path.getsize(dat) != files.dat_size:
            raise VolumeError(
                f"the dat file size [{os.path.getsize(dat)}] is not same as origin file size "
                f"[{files.dat_size}]"
            )


def to_disk_type(name: str) -> str:
    """Go's ``ToDiskType``: lower case, and ``hdd`` is the unnamed default."""
    lowered = name.lower()
    return "" if lowered == "hdd" else lowered
