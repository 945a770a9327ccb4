"""Reed-Solomon over GF(2^8), exactly as Go's ``klauspost/reedsolomon.New(data, parity)``.

The field uses the polynomial x^8+x^4+x^3+x^2+1 (0x11d) with generator 2. The encoding matrix
is the (data+parity) x data Vandermonde matrix V[r][c] = r^c, multiplied by the inverse of its
top square so the code is systematic: the first ``data`` rows are the identity (the data shards
themselves) and the rest compute the parity shards. Any ``data`` surviving shards rebuild the
others by inverting the rows they come from. Only this choice of matrix makes shards that Go
can read (see ``FACTS.md``: zfec's evaluation points differ).

Shards are numpy ``uint8`` arrays; a multiplication by a constant is a 256-entry table lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

_POLYNOMIAL = 0x11D


def _exp_log_tables() -> tuple[list[int], list[int]]:
    exp = [0] * 512
    log = [0] * 256
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        value <<= 1
        if value & 0x100:
            value ^= _POLYNOMIAL
    for power in range(255, 512):
        exp[power] = exp[power - 255]
    return exp, log


_EXP, _LOG = _exp_log_tables()


def mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def inverse(a: int) -> int:
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in GF(2^8)")
    return _EXP[255 - _LOG[a]]


def power(a: int, n: int) -> int:
    if n == 0:
        return 1
    if a == 0:
        return 0
    return _EXP[(_LOG[a] * n) % 255]


MUL_TABLE = np.array([[mul(a, b) for b in range(256)] for a in range(256)], dtype=np.uint8)
"""``MUL_TABLE[a]`` maps every byte b to a*b."""

Matrix = list[list[int]]


def mat_mul(left: Matrix, right: Matrix) -> Matrix:
    result = []
    for row in left:
        out = []
        for c in range(len(right[0])):
            value = 0
            for k, factor in enumerate(row):
                value ^= mul(factor, right[k][c])
            out.append(value)
        result.append(out)
    return result


def mat_invert(matrix: Matrix) -> Matrix:
    """Gauss-Jordan elimination over GF(2^8); raises ``ValueError`` for a singular matrix."""
    size = len(matrix)
    work = [list(row) + [1 if i == j else 0 for j in range(size)] for i, row in enumerate(matrix)]
    for col in range(size):
        pivot = next((r for r in range(col, size) if work[r][col]), None)
        if pivot is None:
            raise ValueError("matrix is singular")
        work[col], work[pivot] = work[pivot], work[col]
        scale = inverse(work[col][col])
        work[col] = [mul(scale, value) for value in work[col]]
        for r in range(size):
            if r != col and work[r][col]:
                factor = work[r][col]
                work[r] = [
                    value ^ mul(factor, pivot_value)
                    for value, pivot_value in zip(work[r], work[col], strict=True)
                ]
    return [row[size:] for row in work]


@lru_cache(maxsize=8)
def encoding_matrix(data_shards: int, parity_shards: int) -> tuple[tuple[int, ...], ...]:
    """klauspost's default matrix: Vandermonde, made systematic by its top square's inverse."""
    total = data_shards + parity_shards
    vandermonde = [[power(r, c) for c in range(data_shards)] for r in range(total)]
    top_inverse = mat_invert(vandermonde[:data_shards])
    return tuple(tuple(row) for row in mat_mul(vandermonde, top_inverse))


@lru_cache(maxsize=256)
def _pair_table(factor: int) -> np.ndarray:
    """``factor`` times each byte of a 16-bit word: one lookup multiplies two bytes."""
    words = np.arange(65536, dtype=np.uint32)
    row = MUL_TABLE[factor]
    low, high = row[words & 0xFF].astype(np.uint16), row[words >> 8].astype(np.uint16)
    table: np.ndarray = low | (high << 8)
    return table


def _combine(coefficients: Sequence[int], inputs: Sequence[np.ndarray]) -> np.ndarray:
    """XOR of coefficient * input over the inputs (one output shard). Even lengths (every
    encoding block) are multiplied two bytes per table lookup, about twice as fast."""
    length = len(inputs[0])
    paired = length % 2 == 0
    out: npt.NDArray[np.unsignedinteger[Any]] = np.zeros(
        length // 2 if paired else length, dtype=np.uint16 if paired else np.uint8
    )
    scratch = np.empty_like(out)
    for factor, shard in zip(coefficients, inputs, strict=True):
        if factor == 0:
            continue
        view = shard.view(np.uint16) if paired else shard
        if factor == 1:
            out ^= view
        else:
            np.take(_pair_table(factor) if paired else MUL_TABLE[factor], view, out=scratch)
            out ^= scratch
    return out.view(np.uint8)


class ReedSolomon:
    def __init__(self, data_shards: int, parity_shards: int) -> None:
        if data_shards <= 0 or parity_shards <= 0 or data_shards + parity_shards > 256:
            raise ValueError(f"invalid shard counts {data_shards}+{parity_shards}")
        self.data_shards = data_shards
        self.parity_shards = parity_shards
        self.total = data_shards + parity_shards
        self.matrix = encoding_matrix(data_shards, parity_shards)

    def encode(self, data: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The parity shards of ``data`` (equal-length ``uint8`` arrays)."""
        if len(data) != self.data_shards:
            raise ValueError(f"expected {self.data_shards} data shards, got {len(data)}")
        return [_combine(self.matrix[row], data) for row in range(self.data_shards, self.total)]

    def reconstruct(self, shards: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        """Every shard, from any ``data_shards`` present ones (``None`` marks a missing one)."""
        known = {i: shard for i, shard in enumerate(shards) if shard is not None}
        present = list(known)
        if len(present) < self.data_shards:
            raise ValueError(
                f"too few shards to reconstruct: {len(present)} of {self.data_shards} needed"
            )
        chosen = present[: self.data_shards]
        decode = mat_invert([list(self.matrix[i]) for i in chosen])
        inputs = [known[i] for i in chosen]
        data = [
            known[i] if i in known else _combine(decode[i], inputs) for i in range(self.data_shards)
        ]
        result: list[np.ndarray] = list(data)
        for row in range(self.data_shards, self.total):
            result.append(known[row] if row in known else _combine(self.matrix[row], data))
        return result
