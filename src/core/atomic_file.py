"""Writing a small file so that a crash leaves either the old or the new content: a temporary
sibling, fsynced, renamed over the target (Go's ``.tmp`` + rename for ``.vif``, ``.ecsum``,
decoded ``.idx``)."""

from __future__ import annotations

import os


def replace_file(path: str, content: bytes, durable: bool = True) -> None:
    temporary = path + ".tmp"
    with open(temporary, "wb") as out:
        out.write(content)
        out.flush()
        if durable:
            os.fsync(out.fileno())
    os.replace(temporary, path)
