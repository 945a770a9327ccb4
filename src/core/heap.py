"""Give freed heap memory back to the operating system after bulk work.

Loading a volume builds large temporary numpy arrays. glibc keeps their pages once its dynamic
mmap threshold has grown, so RSS would stay ~7x the needle map's real size; ``malloc_trim``
returns them. Elsewhere (non-glibc) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - probe for the symbol
    except (OSError, AttributeError):
        return None
    return libc


def trim_heap() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
