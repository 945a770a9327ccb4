"""Domain errors. Their ``str()`` is the text Go's volume server uses for the same condition
(``volume_write.go``, ``store.go``), because the adapters pass it on to clients."""

from __future__ import annotations

import os


class VolumeError(Exception):
    """Base of every storage error."""


class NotFound(VolumeError):
    def __init__(self, message: str = "not found") -> None:
        super().__init__(message)


class AlreadyDeleted(VolumeError):
    def __init__(self) -> None:
        super().__init__("already deleted")


class CookieMismatch(VolumeError):
    pass


class ReadOnlyVolume(VolumeError):
    pass


class VolumeFull(VolumeError):
    pass


class VolumeNotEmpty(VolumeError):
    def __init__(self) -> None:
        super().__init__("volume not empty")


class VolumeNotFound(VolumeError):
    pass


class VolumeExists(VolumeError):
    pass


class NoFreeSpace(VolumeError):
    pass


class InvalidCollection(VolumeError):
    pass


class SizeLimitExceeded(VolumeError):
    """A read refused because the record is larger than the caller allowed."""

    def __init__(self, size: int) -> None:
        super().__init__(f"needle of {size} bytes is over the size limit")
        self.size = size


def go_errno_text(err: OSError) -> str:
    """An OS error as Go's ``syscall.Errno`` prints it (``no space left on device``)."""
    if err.errno is None:
        return str(err)
    return os.strerror(err.errno).lower()
