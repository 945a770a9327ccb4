"""Go's ``strconv`` number and boolean parsing, with its exact error texts.

Clients see these texts inside Go's error messages (e.g. ``Parse needleId error: needle id zz
format error: strconv.ParseUint: parsing "zz": invalid syntax``), so we reproduce them.
"""

from __future__ import annotations

from typing import Final

_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


class GoNumError(ValueError):
    """A ``*strconv.NumError``; ``str()`` is Go's ``Error()`` text."""

    def __init__(self, func: str, text: str, reason: str) -> None:
        super().__init__(f"strconv.{func}: parsing {go_quote(text)}: {reason}")
        self.reason = reason


def go_quote(text: str) -> str:
    """A close approximation of Go's ``strconv.Quote`` for error messages."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def parse_uint(text: str, base: int, bits: int, func: str = "ParseUint") -> int:
    """``strconv.ParseUint(text, base, bits)`` for an explicit base (no prefixes, no ``_``)."""
    if not text:
        raise GoNumError(func, text, "invalid syntax")
    # Fast path: plain ASCII digits, which Python's int() parses exactly as Go does (a "0x"
    # prefix is the one form int() takes and Go does not, so it goes the slow way).
    if text.isascii() and text.isalnum() and not (base == 16 and text[:2] in ("0x", "0X")):
        try:
            value = int(text, base)
        except ValueError:
            raise GoNumError(func, text, "invalid syntax") from None
        if value >> bits:
            raise GoNumError(func, text, "value out of range")
        return value
    value = 0
    limit = (1 << bits) - 1
    overflow = False
    for ch in text:
        digit = _DIGITS.find(ch.lower()) if ch.isascii() else -1
        if digit < 0 or digit >= base:
            raise GoNumError(func, text, "invalid syntax")
        value = value * base + digit
        if value > limit:
            overflow = True
    if overflow:
        raise GoNumError(func, text, "value out of range")
    return value


def parse_int(text: str, bits: int = 64) -> int:
    """``strconv.ParseInt(text, 10, bits)``; also the body of ``strconv.Atoi``."""
    body = text
    sign = 1
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    try:
        magnitude = parse_uint(body, 10, bits, "ParseInt")
    except GoNumError as err:
        raise GoNumError("ParseInt", text, err.reason) from None
    limit = 1 << (bits - 1)
    if (sign > 0 and magnitude >= limit) or (sign < 0 and magnitude > limit):
        raise GoNumError("ParseInt", text, "value out of range")
    return sign * magnitude


def atoi(text: str) -> int:
    """``strconv.Atoi``: like ParseInt but its errors name ``Atoi``."""
    try:
        return parse_int(text, 64)
    except GoNumError as err:
        raise GoNumError("Atoi", text, err.reason) from None


_TRUE: Final = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE: Final = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(text: str) -> bool:
    """``strconv.ParseBool``: exactly Go's twelve spellings."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise GoNumError("ParseBool", text, "invalid syntax")
