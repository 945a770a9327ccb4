"""Local random-access files behind a volume (:class:`DiskFile`). The port a volume's ``.dat``
is typed against, :class:`~.ports.BackendFile`, lives with the other ports; a tier's
``core.tier.RemoteDatFile`` satisfies it too.

Reads use ``os.pread`` so concurrent readers never share a file position; writes use
``os.pwrite`` at an explicit offset so a failed append can be cut off with ``truncate``.
"""

from __future__ import annotations

import os
from typing import Final

_FALLOC_FL_KEEP_SIZE: Final = 1


def reserve_blocks(fd: int, size: int) -> None:
    """Reserve disk blocks without changing the file's size, like Go's ``Fallocate(fd, 1,
    ...)`` for ``-preallocate``. ``os.posix_fallocate`` would grow the file, which the
    integrity check then reads as a torn tail; where the call is missing this does nothing."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    libc = ctypes.CDLL(name, use_errno=True)
    fallocate = getattr(libc, "fallocate", None)
    if fallocate is None:
        return
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    if fallocate(fd, _FALLOC_FL_KEEP_SIZE, 0, size) != 0:
        raise OSError(ctypes.get_errno(), "fallocate failed")


class DiskFile:
    """A local file opened read-write (or read-only when the file is not writable)."""

    def __init__(
        self, path: str, *, create: bool = False, writable: bool = True, align: int = 0
    ) -> None:
        self.name = path
        flags = os.O_RDWR if writable else os.O_RDONLY
        if create:
            flags |= os.O_CREAT
        self.writable = writable
        self._fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
        # Go's DiskFile reports the size rounded up to 8 bytes, so a record that lost only
        # its padding still counts as whole and the next append stays aligned.
        self._align = align
        size = os.fstat(self._fd).st_size
        self._size = size if not align else -(-size // align) * align

    def read_at(self, length: int, offset: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def write_at(self, data: bytes | memoryview, offset: int) -> None:
        written = os.pwrite(self._fd, data, offset)
        if written < len(data):  # a short write: go on with the rest
            view = memoryview(data)
            while written < len(view):
                written += os.pwrite(self._fd, view[written:], offset + written)
        end = offset + len(data)
        if end > self._size:
            self._size = end

    def write_pieces_at(self, pieces: list[bytes | bytearray | memoryview], offset: int) -> None:
        """Write ``pieces`` one after another from ``offset`` (``pwritev``: no joined copy)."""
        total = sum(len(piece) for piece in pieces)
        written = os.pwritev(self._fd, pieces, offset)
        if written < total:  # a short write: the rest piece by piece
            position = 0
            for piece in pieces:
                end = position + len(piece)
                if end > written:
                    skip = max(0, written - position)
                    self.write_at(memoryview(piece)[skip:], offset + position + skip)
                position = end
        end = offset + total
        if end > self._size:
            self._size = end

    def append(self, data: bytes) -> int:
        """Write at the end; returns the offset the data starts at."""
        offset = self._size
        self.write_at(data, offset)
        return offset

    def size(self) -> int:
        return self._size

    def on_disk_size(self) -> int:
        """The size now, with what other processes wrote (rounded up as at open): one
        ``lseek``, which moves no position this class uses (it reads and writes at offsets)."""
        size = os.lseek(self._fd, 0, os.SEEK_END)
        return size if not self._align else -(-size // self._align) * self._align

    def identity(self) -> int:
        """The file's inode: another after vacuum or a tier move swapped the file (-1 once
        closed)."""
        return os.fstat(self._fd).st_ino if self._fd >= 0 else -1

    def note_size(self, size: int) -> None:
        """Another process appended up to ``size`` (known from the index it wrote)."""
        self._size = size

    def preallocate(self, size: int) -> None:
        reserve_blocks(self._fd, size)

    def truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)
        self._size = size

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @property
    def closed(self) -> bool:
        return self._fd < 0
