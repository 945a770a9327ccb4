"""One volume written and read by several processes of one server (``-workers``).

Every process keeps its own view of a volume (file descriptors, needle map); the files are the
meeting point, as they are for Go's crash recovery:

- Appends from any process hold the volume's *append lock*: the in-process lock, then an
  exclusive ``flock`` on a descriptor of the ``.dat`` this process opened itself (``flock``
  belongs to an open file description, so one inherited across ``fork`` would be shared, not
  exclusive). Under it the process first absorbs the ``.idx`` entries others appended, so its
  map, its idea of the ``.dat`` end and the last v3 append time are the volume's, then appends
  the record and its ``.idx`` entry, then answers. Appends therefore never interleave, and
  append times stay strictly increasing per volume.
- A process that died between its ``.dat`` write and its ``.idx`` entry leaves bytes no entry
  names; they were never acknowledged, and the next appender cuts them off before writing.
- A lookup first absorbs whatever the ``.idx`` gained since the last one (one ``lseek`` when
  nothing did), so a write or delete acknowledged on any process is seen by the next lookup on
  every other.
- Changes that are not appends (vacuum swapping files, read-only flags, mounts) are the
  authority process's; it announces them by bumping a shared generation. A process whose
  :class:`ProcessView` says a volume is no longer current refuses to append to it
  (:class:`StaleVolume`) until it has caught up, so nothing lands in a file that was swapped
  away.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
from typing import Protocol

from ..errors import VolumeError

_COUNTER = struct.Struct("<Q")


class StaleVolume(VolumeError):
    """This process's view of the volume is older than the server's: reconcile and retry."""


class ProcessView(Protocol):
    """What a shared volume asks of the view its process keeps of the whole server."""

    def is_current(self) -> bool:
        """False once the authority announced a change this process has not absorbed."""
        ...

    def announce(self) -> None:
        """Called by the authority, under the volume's lock, after changing its state."""
        ...


class Generation:
    """A counter in shared memory, created before the processes fork: the authority bumps
    it after every change of the server's volumes; the others compare it with the value
    they last absorbed (reading it costs no system call)."""

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, mmap.PAGESIZE)  # anonymous and MAP_SHARED on Linux
        self._lock = threading.Lock()

    @property
    def value(self) -> int:
        value: int = _COUNTER.unpack_from(self._memory, 0)[0]
        return value

    def bump(self) -> int:
        with self._lock:
            value = self.value + 1
            _COUNTER.pack_into(self._memory, 0, value)
            return value


class FileLock:
    """An exclusive ``flock`` on a path, through a descriptor owned by this process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1
        self._pid = 0

    def _descriptor(self) -> int:
        if self._pid != os.getpid():  # never lock through a descriptor from before a fork
            self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> None:
        fcntl.flock(self._descriptor(), fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = -1
        self._pid = 0
