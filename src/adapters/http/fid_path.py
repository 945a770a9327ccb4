"""Splitting a request path into volume id, file id, file name and extension.

Go's ``parseURLPath`` (``weed/server/common.go``): ``/vid,fid[.ext]``, ``/vid/fid[.ext]`` and
``/vid/fid/filename`` are decided by the number of slashes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FidPath:
    vid: str
    fid: str
    filename: str
    ext: str
    volume_id_only: bool = False


def go_ext(name: str) -> str:
    """``filepath.Ext``: from the last dot of the last path element, else empty."""
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 and "/" not in name[dot:] else ""


def parse_url_path(path: str) -> FidPath:
    slashes = path.count("/")
    if slashes == 3:
        _, vid, fid, filename = path.split("/")
        return FidPath(vid, fid, filename, go_ext(filename))
    if slashes == 2:
        _, vid, fid = path.split("/")
        dot = fid.rfind(".")
        if dot > 0:
            return FidPath(vid, fid[:dot], "", fid[dot:])
        return FidPath(vid, fid, "", "")
    sep = path.rfind("/")
    tail = path[sep:]
    comma = tail.rfind(",")
    if comma <= 0:
        return FidPath(path[sep + 1 :], "", "", "", volume_id_only=True)
    dot = tail.rfind(".")
    vid = tail[1:comma]
    if dot > 0:
        # Go slices with the dot index of the tail even when it precedes the comma.
        return FidPath(vid, tail[comma + 1 : dot] if dot > comma else "", "", tail[dot:])
    return FidPath(vid, tail[comma + 1 :], "", "")
