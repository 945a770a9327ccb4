"""``VolumeEcShardsRebuild``: regenerate the shard files missing on this server from the ones
present, and fold the deletion journal into ``.ecx`` (ec_encoder.go ``RebuildEcFiles``,
ec_decoder.go ``RebuildEcxFile``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from ..errors import VolumeError
from ..types import OffsetWidth
from ..volume.volume import volume_base_name
from ..volume_info import load_volume_info
from .ec_volume import infer_index_width
from .encoder import ShardCounts
from .gf256 import ReedSolomon
from .layout import MAX_SHARD_COUNT, shard_ext

if TYPE_CHECKING:
    from ..ports import VolumeRepository

STEP = 1024 * 1024
TOMBSTONE = b"\xff\xff\xff\xff"


def rebuild_ec_shards(store: VolumeRepository, collection: str, vid: int) -> list[int]:
    """The ids of the shards written; an empty list when no disk has this EC volume."""
    name = volume_base_name(collection, vid)
    found = []
    for location in store.locations:
        base = os.path.join(location.directory, name)
        shard_count = sum(os.path.exists(base + shard_ext(i)) for i in range(MAX_SHARD_COUNT))
        has_index = os.path.exists(base + ".ecx")
        if shard_count or has_index:
            found.append((location, base, shard_count, has_index))
    indexed = [entry for entry in found if entry[3]]
    if not indexed:
        return []
    best = max(entry[2] for entry in indexed)
    location, base, _, _ = next(entry for entry in indexed if entry[2] == best)
    others = [entry[0].directory for entry in found if entry[1] != base]
    try:
        rebuilt = rebuild_files(base, others)
    except (VolumeError, OSError, ValueError) as err:
        raise VolumeError(f"RebuildEcFiles {base}: {err}") from err
    try:
        fold_journal(base, location.default_width)
    except (VolumeError, OSError) as err:
        raise VolumeError(f"RebuildEcxFile {base}: {err}") from err
    return rebuilt


def rebuild_files(base: str, other_dirs: list[str]) -> list[int]:
    """``RebuildEcFiles``: find each shard here or in ``other_dirs``, then write the missing
    (and empty) ones beside ``base`` from the others. Returns the ids written."""
    counts = ShardCounts.from_info(load_volume_info(base + ".vif"))
    present, regenerate = _find_shards(base, other_dirs, counts.total)
    if len(present) < counts.data:
        listed = " ".join(str(i) for i in regenerate)
        raise VolumeError(
            f"not enough shards to rebuild {base}: found {len(present)} shards, need at least "
            f"{counts.data} (data shards), missing shards: [{listed}]"
        )
    if not regenerate:
        return []
    size = _common_size(present)
    _write_shards(base, present, regenerate, size, counts)
    return regenerate


def _find_shards(base: str, other_dirs: list[str], total: int) -> tuple[dict[int, str], list[int]]:
    """The path of each shard found (here first, then in ``other_dirs``) and the ids to
    regenerate: the missing ones, then the empty ones (the residue of a failed operation,
    regenerated in place)."""
    name = os.path.basename(base)
    present: dict[int, str] = {}
    missing: list[int] = []
    empty: list[int] = []
    for shard_id in range(total):
        candidates = [base + shard_ext(shard_id)] + [
            os.path.join(d, name + shard_ext(shard_id)) for d in other_dirs
        ]
        path = next((p for p in candidates if os.path.exists(p)), None)
        if path is None:
            missing.append(shard_id)
        elif os.path.getsize(path) == 0:
            empty.append(shard_id)
        else:
            present[shard_id] = path
    return present, missing + empty


def _common_size(present: dict[int, str]) -> int:
    """The size every input shard has; a different one means a truncated input."""
    sizes = {i: os.path.getsize(path) for i, path in present.items()}
    size = sizes[min(sizes)]
    for shard_id, other in sizes.items():
        if other != size:
            raise VolumeError(
                f"ec rebuild: input shard {shard_id} size {other} != {size} (truncated input?)"
            )
    return size


def _write_shards(
    base: str, present: dict[int, str], regenerate: list[int], size: int, counts: ShardCounts
) -> None:
    """Write each shard of ``regenerate`` to a ``.rebuilding`` file, synced, and rename it
    into place only once all are written; on any failure remove them."""
    codec = ReedSolomon(counts.data, counts.parity)
    inputs = {i: open(path, "rb") for i, path in present.items()}  # noqa: SIM115 - closed below
    outputs = {i: open(base + shard_ext(i) + ".rebuilding", "wb") for i in regenerate}  # noqa: SIM115
    try:
        for offset in range(0, size, STEP):
            whole = codec.reconstruct(_read_row(inputs, offset, min(STEP, size - offset), counts))
            for shard_id, out in outputs.items():
                out.write(whole[shard_id].tobytes())
        for out in outputs.values():
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        for shard_id, out in outputs.items():
            out.close()
            with contextlib.suppress(FileNotFoundError):
                os.remove(base + shard_ext(shard_id) + ".rebuilding")
        raise
    finally:
        for src in inputs.values():
            src.close()
    for shard_id, out in outputs.items():
        out.close()
        os.replace(base + shard_ext(shard_id) + ".rebuilding", base + shard_ext(shard_id))


def _read_row(
    inputs: Mapping[int, BinaryIO], offset: int, length: int, counts: ShardCounts
) -> list[np.ndarray | None]:
    """``length`` bytes at ``offset`` of each input shard, ``None`` for the others."""
    shards: list[np.ndarray | None] = [None] * counts.total
    for shard_id, src in inputs.items():
        src.seek(offset)
        data = src.read(length)
        if len(data) != length:
            raise VolumeError(f"ec rebuild short read shard {shard_id} at {offset}")
        shards[shard_id] = np.frombuffer(data, dtype=np.uint8)
    return shards


def fold_journal(base: str, default_width: OffsetWidth) -> None:
    """Mark every needle of ``.ecj`` deleted in ``.ecx`` (size = tombstone), then drop the
    journal (``RebuildEcxFile``)."""
    journal_path = base + ".ecj"
    if not os.path.exists(journal_path):
        return
    with open(journal_path, "rb") as src:
        journal = src.read()
    if len(journal) % 8:
        raise VolumeError(f"rebuild: read ecj: torn entry in {journal_path}")
    with open(base + ".ecx", "r+b") as index:
        size = os.fstat(index.fileno()).st_size

        def read_at(length: int, offset: int) -> bytes:
            index.seek(offset)
            return index.read(length)

        width = infer_index_width(size, read_at, default_width)
        step = width.entry_size
        count = size // step
        for at in range(0, len(journal), 8):
            needle_id = int.from_bytes(journal[at : at + 8], "big")
            low, high = 0, count
            while low < high:
                middle = (low + high) // 2
                key = int.from_bytes(read_at(8, middle * step), "big")
                if key == needle_id:
                    index.seek(middle * step + 8 + int(width))
                    index.write(TOMBSTONE)
                    break
                if key < needle_id:
                    low = middle + 1
                else:
                    high = middle
        index.flush()
        os.fsync(index.fileno())
    os.remove(journal_path)
