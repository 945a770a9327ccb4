"""Time to live: a count and a unit packed into two bytes (``volume_ttl.go``).

Parsing normalises the count into the largest unit that holds it exactly (``7d`` -> ``1w``),
an all-digit value means minutes, and an unknown unit letter means "no TTL".
"""

from __future__ import annotations

from dataclasses import dataclass

from .goparse import GoNumError, atoi

EMPTY, MINUTE, HOUR, DAY, WEEK, MONTH, YEAR = range(7)

_UNIT_SECONDS = {
    EMPTY: 0,
    MINUTE: 60,
    HOUR: 3600,
    DAY: 86400,
    WEEK: 7 * 86400,
    MONTH: 30 * 86400,
    YEAR: 365 * 86400,
}
_LETTER_TO_UNIT = {"m": MINUTE, "h": HOUR, "d": DAY, "w": WEEK, "M": MONTH, "y": YEAR}
_UNIT_TO_LETTER = {unit: letter for letter, unit in _LETTER_TO_UNIT.items()}
# Order in which Go tries units when normalising: exact multiples of the largest first.
_EXACT_ORDER = (YEAR, MONTH, WEEK, DAY, HOUR)
_ROUNDING_ORDER = (MINUTE, HOUR, DAY, WEEK, MONTH, YEAR)


class TTLError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TTL:
    count: int = 0
    unit: int = EMPTY

    @classmethod
    def parse(cls, text: str) -> TTL:
        """``ReadTTL``; raises :class:`TTLError` with Go's Atoi message on a bad count."""
        if not text:
            return EMPTY_TTL
        unit_letter = text[-1]
        count_text = text[:-1]
        if "0" <= unit_letter <= "9":
            count_text, unit_letter = text, "m"
        try:
            count = atoi(count_text)
        except GoNumError as err:
            raise TTLError(str(err)) from None
        return cls.fit(count, _LETTER_TO_UNIT.get(unit_letter, EMPTY))

    @classmethod
    def fit(cls, count: int, unit: int) -> TTL:
        """``fitTtlCount``: re-express ``count`` units in the unit that keeps the count < 256."""
        seconds = count * _UNIT_SECONDS.get(unit, 0)
        return cls.from_seconds(seconds)

    @classmethod
    def from_seconds(cls, seconds: int) -> TTL:
        if seconds <= 0:
            return EMPTY_TTL
        for unit in _EXACT_ORDER:
            span = _UNIT_SECONDS[unit]
            if seconds % span == 0 and seconds // span < 256:
                return cls(seconds // span, unit)
        for unit in _ROUNDING_ORDER:
            span = _UNIT_SECONDS[unit]
            if seconds // span < 256:
                return cls(seconds // span, unit)
        return EMPTY_TTL

    @classmethod
    def from_bytes(cls, raw: bytes | memoryview) -> TTL:
        if raw[0] == 0 and raw[1] == 0:
            return EMPTY_TTL
        return cls(raw[0], raw[1])

    @classmethod
    def from_uint32(cls, value: int) -> TTL:
        return cls.from_bytes(bytes([(value >> 8) & 0xFF, value & 0xFF]))

    def to_bytes(self) -> bytes:
        return bytes([self.count, self.unit])

    def to_uint32(self) -> int:
        if self.count == 0:
            return 0
        return (self.count << 8) + self.unit

    @property
    def seconds(self) -> int:
        return self.count * _UNIT_SECONDS.get(self.unit, 0)

    @property
    def minutes(self) -> int:
        return self.seconds // 60

    def __bool__(self) -> bool:
        return self.count != 0 and self.unit != EMPTY

    def __str__(self) -> str:
        if self.count == 0 or self.unit not in _UNIT_TO_LETTER:
            return ""
        return f"{self.count}{_UNIT_TO_LETTER[self.unit]}"


EMPTY_TTL = TTL()
