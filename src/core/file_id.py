"""File ids: ``<volume id>,<needle id hex><cookie hex 8 digits>[_delta]``.

Mirrors ``weed/storage/needle/file_id.go`` and ``Needle.ParsePath``/``ParseNeedleIdCookie`` in
``needle.go``, including their error texts, which the HTTP layer returns to clients.
"""

from __future__ import annotations

from dataclasses import dataclass

from .goparse import GoNumError, parse_uint
from .types import COOKIE_SIZE, MAX_UINT32, MAX_UINT64, NEEDLE_ID_SIZE


class FileIdError(ValueError):
    """A malformed file id; ``str()`` is the message Go produces for the same input."""


def parse_needle_id(text: str) -> int:
    try:
        return parse_uint(text, 16, 64)
    except GoNumError as err:
        raise FileIdError(f"needle id {text} format error: {err}") from None


def parse_cookie(text: str) -> int:
    try:
        return parse_uint(text, 16, 32)
    except GoNumError as err:
        raise FileIdError(f"needle cookie {text} format error: {err}") from None


def parse_needle_id_cookie(key_cookie: str) -> tuple[int, int]:
    """Split ``<id hex><8 hex cookie digits>`` (``ParseNeedleIdCookie``)."""
    if len(key_cookie) <= COOKIE_SIZE * 2:
        raise FileIdError("KeyHash is too short.")
    if len(key_cookie) > (NEEDLE_ID_SIZE + COOKIE_SIZE) * 2:
        raise FileIdError("KeyHash is too long.")
    split = len(key_cookie) - COOKIE_SIZE * 2
    try:
        needle_id = parse_needle_id(key_cookie[:split])
    except FileIdError as err:
        raise FileIdError(f"Parse needleId error: {err}") from None
    try:
        cookie = parse_cookie(key_cookie[split:])
    except FileIdError as err:
        raise FileIdError(f"Parse cookie error: {err}") from None
    return needle_id, cookie


def parse_needle_path(fid: str) -> tuple[int, int]:
    """Parse the key part of a URL path, with an optional ``_delta`` suffix (``ParsePath``).

    The delta is added to the needle id: ``..._3`` names the fourth id of a batch assignment.
    """
    if len(fid) <= COOKIE_SIZE * 2:
        raise FileIdError(f"Invalid fid: {fid}")
    delta = ""
    delta_index = fid.rfind("_")
    if delta_index > 0:
        fid, delta = fid[:delta_index], fid[delta_index + 1 :]
    needle_id, cookie = parse_needle_id_cookie(fid)
    if delta:
        try:
            step = parse_uint(delta, 10, 64)
        except GoNumError as err:
            raise FileIdError(str(err)) from None
        if step > MAX_UINT64 - needle_id:
            raise FileIdError(f"delta {step} overflows needle id {needle_id:x}")
        needle_id += step
    return needle_id, cookie


def format_needle_id_cookie(needle_id: int, cookie: int) -> str:
    """Hex of id and cookie, the id's leading zero *bytes* dropped (``formatNeedleIdCookie``)."""
    raw = needle_id.to_bytes(NEEDLE_ID_SIZE, "big") + cookie.to_bytes(COOKIE_SIZE, "big")
    start = 0
    while start < NEEDLE_ID_SIZE and raw[start] == 0:
        start += 1
    return raw[start:].hex()


def parse_volume_id(text: str) -> int:
    """``NewVolumeId``: a decimal that Go parses as 64-bit and then truncates to 32."""
    return parse_uint(text, 10, 64) & MAX_UINT32


@dataclass(frozen=True, slots=True)
class FileId:
    volume_id: int
    needle_id: int
    cookie: int

    @classmethod
    def parse(cls, fid: str) -> FileId:
        """``ParseFileIdFromString``: ``3,01637037d6``."""
        comma = fid.find(",")
        if comma <= 0:
            raise FileIdError("wrong fid format")
        try:
            volume_id = parse_volume_id(fid[:comma])
        except GoNumError as err:
            raise FileIdError(str(err)) from None
        needle_id, cookie = parse_needle_id_cookie(fid[comma + 1 :])
        return cls(volume_id, needle_id, cookie)

    def __str__(self) -> str:
        return f"{self.volume_id},{format_needle_id_cookie(self.needle_id, self.cookie)}"
