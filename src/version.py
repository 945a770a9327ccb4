"""The release this server answers as: Go's ``util.Version()``, shared by the HTTP headers,
``/status``, the gRPC ``VolumeServerStatus`` and the build-info metric."""

from __future__ import annotations

GO_VERSION = "4.48"


def version_string(offset_bytes: int) -> str:
    """The size limit of the offset width, then the release (``8000GB 4.48``)."""
    return f"{'8000GB' if offset_bytes == 5 else '30GB'} {GO_VERSION}"
