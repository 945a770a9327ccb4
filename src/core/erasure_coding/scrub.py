"""Scrubbing an EC volume (ec_volume_scrub.go, store_ec_scrub.go): its ``.ecx`` alone
(INDEX), every needle whose pieces are all on local shards (LOCAL), every needle with remote
pieces too (FULL), or the raw shard bytes against the ``.ecsum`` block checksums (CHECKSUM).

Results are (entries or blocks gone through, broken shards as (shard id, size), messages).
"""

from __future__ import annotations

import os

from ..crc import crc32c_of
from ..errors import AlreadyDeleted
from ..idx import walk
from ..needle.record import Needle, NeedleError
from ..ports import RemoteShards
from ..types import TOMBSTONE_FILE_SIZE, actual_size
from ..volume.scrub import check_index
from .bitrot import load_sidecar
from .ec_volume import EcVolume, Interval, locate

Broken = list[tuple[int, int]]


def _index(ec: EcVolume) -> bytes:
    return os.pread(ec._ecx, ec.ecx_size, 0) if ec.ecx_size else b""


def scrub_ec_index(ec: EcVolume) -> tuple[int, list[str]]:
    if ec.ecx_size == 0:
        return 0, [f"zero-size ECX file for EC volume {ec.id}"]
    return check_index(_index(ec), ec.width, ec.version)


def scrub_ec_needles(
    ec: EcVolume, remote: RemoteShards | None = None
) -> tuple[int, Broken, list[str]]:
    """LOCAL without ``remote`` (needles with a piece elsewhere are only counted), FULL with
    it (a piece no server can give marks its shard broken). Pieces are never rebuilt: the
    point is to find shards that are bad."""
    _, errors = scrub_ec_index(ec)
    broken: dict[int, int] = {}
    count = 0
    raw = _index(ec)
    for entry in walk(raw, ec.width):
        count += 1
        if entry.size == TOMBSTONE_FILE_SIZE:
            continue
        size = entry.size
        length = actual_size(size, ec.version)
        intervals = locate(entry.offset, length, ec.shard_dat_size, ec.counts.data)
        pieces = _gather(ec, entry.needle_id, intervals, remote, errors, broken)
        if pieces is None:
            continue
        try:
            Needle.from_bytes(b"".join(pieces), ec.version, size, entry.offset)
        except NeedleError as err:
            header_size = int.from_bytes(pieces[0][12:16], "big", signed=True) if pieces else 0
            if not (size < 0 and header_size == 0):  # deleted in .ecx, tombstone on disk
                shards = sorted({i.shard_id for i in intervals})
                errors.append(
                    f"EC volume {ec.id}, needle {entry.needle_id} on shards {shards}: {err}"
                )
    return count, sorted(broken.items()), errors


def _gather(
    ec: EcVolume,
    needle_id: int,
    intervals: list[Interval],
    remote: RemoteShards | None,
    errors: list[str],
    broken: dict[int, int],
) -> list[bytes] | None:
    """The needle's pieces in order, or ``None`` when one is missing (with ``remote``, the
    first missing piece ends the walk; without, the local pieces are still checked)."""
    pieces: list[bytes] = []
    complete = True
    for number, interval in enumerate(intervals, 1):
        where = (number, len(intervals))
        data = _piece(ec, needle_id, interval, where, remote, errors, broken)
        if data is None:
            complete = False
            if remote is not None:
                break
            continue
        pieces.append(data)
    return pieces if complete else None


def _piece(
    ec: EcVolume,
    needle_id: int,
    interval: Interval,
    where: tuple[int, int],
    remote: RemoteShards | None,
    errors: list[str],
    broken: dict[int, int],
) -> bytes | None:
    """One piece from its local shard, else from ``remote``; a short local shard or a piece
    no server gives is recorded in ``errors`` and ``broken``. ``where``: (piece, pieces)."""
    number, total = where
    shard = ec.shards.get(interval.shard_id)
    if shard is not None:
        data = shard.read_at(interval.length, interval.offset)
        if len(data) == interval.length:
            return data
        errors.append(
            f"local shard {interval.shard_id} for needle {needle_id} is too "
            f"short ({shard.size}), cannot read chunk {number}/{total}"
        )
        broken[interval.shard_id] = shard.size
        return None
    if remote is None:
        return None
    try:
        fetched = remote.read(ec, interval.shard_id, interval.offset, interval.length, needle_id)
    except AlreadyDeleted:
        fetched = None
    if fetched is None:
        errors.append(
            f"failed to read EC shard {interval.shard_id} for needle "
            f"{needle_id} on volume {ec.id} (interval {number}/{total})"
        )
        broken[interval.shard_id] = interval.length
    return fetched


def checksum_scrub(ec: EcVolume) -> tuple[int, Broken, list[str]]:
    """Every local shard's blocks against the ``.ecsum`` sidecar; no sidecar, nothing to do.
    More mismatching shards than parity shards means a stale sidecar, not mass rot."""
    try:
        protection = load_sidecar(ec.base + ".ecsum")
    except FileNotFoundError:
        return 0, [], []
    except ValueError:
        return (
            0,
            [],
            [f"ec volume {ec.id}: bitrot sidecar is malformed/unverifiable (sidecar integrity)"],
        )
    entries = {shard_id: (covered, packed) for shard_id, covered, packed in protection.shards}
    errors: list[str] = []
    broken: Broken = []
    blocks = 0
    for shard_id in sorted(ec.shards):
        shard = ec.shards[shard_id]
        if shard_id not in entries:
            errors.append(f"ec volume {ec.id}: no checksum entry for local shard {shard_id}")
            continue
        covered, packed = entries[shard_id]
        if shard.size != covered:
            errors.append(
                f"ec volume {ec.id} shard {shard_id}: size {shard.size} != covered_size {covered} "
                "(truncated or extended)"
            )
            broken.append((shard_id, shard.size))
            continue
        bad = False
        for block in range(len(packed) // 4):
            offset = block * protection.block_size
            data = shard.read_at(min(protection.block_size, covered - offset), offset)
            blocks += 1
            if crc32c_of(data) != int.from_bytes(packed[block * 4 : block * 4 + 4], "little"):
                errors.append(
                    f"ec volume {ec.id} shard {shard_id}: checksum mismatch at block {block} "
                    f"(offset {offset})"
                )
                bad = True
        if bad:
            broken.append((shard_id, shard.size))
    if len(broken) > ec.counts.parity:
        return (
            blocks,
            [],
            [
                f"ec volume {ec.id}: {len(broken)}/{len(ec.shards)} local shards mismatch "
                f"(> parity {ec.counts.parity}): suspect stale sidecar, not flagging shard "
                "corruption"
            ],
        )
    return blocks, broken, errors
