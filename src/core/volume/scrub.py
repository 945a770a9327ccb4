"""Scrubbing: checking an index, and every record it points at, without changing anything
(volume_checking.go ``ScrubIndex``/``Scrub``, idx/check.go ``CheckIndexFile``).

Each check returns how many index entries it went through and the problems it found, as
messages worded like Go's; a problem never stops the walk.
"""

from __future__ import annotations

from ..idx import walk
from ..needle.record import Needle, NeedleError
from ..super_block import SUPER_BLOCK_SIZE
from ..types import OffsetWidth, actual_size
from .volume import Volume


def check_index(raw: bytes, width: OffsetWidth, version: int) -> tuple[int, list[str]]:
    """Entries must not overlap in ``.dat``, and the file must hold whole entries."""
    errors: list[str] = []
    entries = [
        (entry.offset, entry.size, number, entry.needle_id)
        for number, entry in enumerate(walk(raw, width))
    ]
    physical = sorted(e for e in entries if not (e[0] == 0 and e[1] < 0))
    for previous, current in zip(physical, physical[1:], strict=False):
        last_start, last_size, _, last_id = previous
        start, size, number, needle_id = current
        last_end = last_start + max(actual_size(last_size, version) - 1, 0)
        end = start + max(actual_size(size, version) - 1, 0)
        if start <= last_end:
            errors.append(
                f"needle {needle_id} (#{number + 1}) at [{start}-{end}] overlaps needle "
                f"{last_id} at [{last_start}-{last_end}]"
            )
    if len(entries) * width.entry_size != len(raw):
        errors.append(
            f"expected an index file of size {len(raw)}, got {len(entries) * width.entry_size}"
        )
    return len(entries), errors


def _read_index(volume: Volume) -> tuple[bytes, list[str]]:
    # From the file as it is on disk now, not as far as this process wrote it.
    with open(volume.file_name(".idx"), "rb") as src:
        raw = src.read()
    dat_size = volume.dat_stat()[0]
    if not raw and dat_size > SUPER_BLOCK_SIZE:
        return raw, [f"zero-size IDX file for volume {volume.id} with store size {dat_size}"]
    return raw, []


def scrub_index(volume: Volume) -> tuple[int, list[str]]:
    raw, errors = _read_index(volume)
    if errors:
        return 0, errors
    return check_index(raw, volume.width, volume.version)


def scrub_volume(volume: Volume) -> tuple[int, list[str]]:
    """The index check, then every live record read back with its CRC, then the ``.dat``
    size against the records the index accounts for."""
    raw, errors = _read_index(volume)
    if errors:
        return 0, errors
    _, errors = check_index(raw, volume.width, volume.version)
    version = volume.version
    count = 0
    accounted = 0
    for entry in walk(raw, volume.width):
        count += 1
        if entry.offset == 0 and entry.size < 0:
            continue
        accounted += actual_size(entry.size, version)
        if entry.size < 0:
            continue
        try:
            Needle.from_bytes(
                volume.dat.read_at(actual_size(entry.size, version), entry.offset),
                version,
                entry.size,
                entry.offset,
            )
        except NeedleError as err:
            errors.append(f"failed to read needle {entry.needle_id} on volume {volume.id}: {err}")
    want = accounted + SUPER_BLOCK_SIZE
    have = volume.dat_stat()[0]
    if have < want:
        errors.append(
            f"data file for volume {volume.id} is smaller ({have}) than the {count} needles it "
            f"contains ({want})"
        )
    elif have != want:
        errors.append(
            f"data file size for volume {volume.id} ({have}) doesn't match the size for {count} "
            f"needles read ({want})"
        )
    return count, errors
