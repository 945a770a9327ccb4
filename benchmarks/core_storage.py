"""Storage-core benchmark, side by side with the Go 4.48 volume server where a figure exists.

Measures, on this machine:
  1. bytes per needle of each needle-map kind holding 1M needles (ours: the map's own arrays
     and the process RSS growth; Go: RSS growth of a Go volume server loading the same volume);
  2. load time of a 1M-entry ``.idx`` (ours: in-process; Go: server start until the volume is
     listed, minus the start time of the same server on an empty directory);
  3. needle append and random-read throughput of the core (1 KiB needles).

Run: ``.venv/bin/python benchmarks/core_storage.py [--needles 1000000]``. Not a test.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from seaweed_volume.core.disk_location import DiskLocation
from seaweed_volume.core.heap import trim_heap
from seaweed_volume.core.needle.record import Needle
from seaweed_volume.core.needle_map.memory import MemoryNeedleMapKind
from seaweed_volume.core.needle_map.sqlite_map import SqliteNeedleMapKind
from seaweed_volume.core.store import Store
from seaweed_volume.core.types import OffsetWidth, actual_size
from tests.support.go_cluster import GoCluster, http, wait_until


def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as src:
        for line in src:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def synthetic_volume(directory: str, vid: int, count: int, data_size: int = 16) -> None:
    """Write a valid 5-byte volume of ``count`` small needles directly with numpy (fast)."""
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, str(vid))
    store = Store(
        [
            DiskLocation(
                directory, 8, needle_map_kind=MemoryNeedleMapKind(), default_width=OffsetWidth.FIVE
            )
        ]
    )
    store.add_volume(vid)
    store.close()
    template = Needle(cookie=0x12345678, id=1, data=b"d" * data_size)
    template.update_checksum()
    record = np.frombuffer(template.to_bytes(3), dtype=np.uint8)
    size = template.size
    rec_len = record.shape[0]
    records = np.tile(record, count).reshape(count, rec_len)
    ids = np.arange(1, count + 1, dtype=">u8").view(np.uint8).reshape(count, 8)
    records[:, 4:12] = ids
    with open(base + ".dat", "ab") as dat:
        dat.write(records.tobytes())
    offsets = (8 + np.arange(count, dtype=np.int64) * rec_len) // 8
    entries = np.zeros(count, dtype=[("key", ">u8"), ("off", ">u4"), ("hi", "u1"), ("size", ">i4")])
    entries["key"] = np.arange(1, count + 1)
    entries["off"] = offsets & 0xFFFFFFFF
    entries["hi"] = offsets >> 32
    entries["size"] = size
    with open(base + ".idx", "wb") as idx:
        idx.write(entries.tobytes())
    assert actual_size(size, 3) == rec_len


def bench_maps(count: int, workdir: str) -> dict:
    directory = os.path.join(workdir, "maps")
    synthetic_volume(directory, 1, count)
    with open(os.path.join(directory, "1.idx"), "rb") as src:
        index = src.read()
    results = {}
    for kind in (MemoryNeedleMapKind(), SqliteNeedleMapKind()):
        gc.collect()
        trim_heap()
        before = rss_bytes()
        start = time.perf_counter()
        nm = kind.open(os.path.join(directory, "1"), index, OffsetWidth.FIVE, 3)
        seconds = time.perf_counter() - start
        gc.collect()
        trim_heap()  # as DiskLocation does after loading
        grown = rss_bytes() - before
        results[kind.name] = {
            "load_seconds": seconds,
            "entries_per_second": count / seconds,
            "map_bytes_per_needle": nm.memory_bytes() / count,
            "rss_growth_per_needle": grown / count,
        }
        nm.close()
        if kind.name == "sqlite":
            results[kind.name]["disk_bytes_per_needle"] = (
                os.path.getsize(os.path.join(directory, "1.nmdb")) / count
            )
            SqliteNeedleMapKind.remove_files(os.path.join(directory, "1"))
        del nm
    return results


def bench_go(count: int, workdir: str) -> dict:
    """RSS and start-to-listed time of the Go volume server, empty vs holding the volume."""
    figures = {}
    for label, needles in (("empty", 0), ("loaded", count)):
        data = os.path.join(workdir, f"go_{label}")
        if needles:
            synthetic_volume(data, 1, needles)
        else:
            os.makedirs(data, exist_ok=True)
        cluster = GoCluster(os.path.join(workdir, f"cluster_{label}"))
        os.makedirs(cluster.workdir, exist_ok=True)
        with cluster.running():
            cluster.start_master()
            start = time.perf_counter()
            volume = cluster.start_volume(data)

            def listed(url: str = cluster.volume_url, want: int = 1 if needles else 0) -> bool:
                body = json.loads(http("GET", f"{url}/status")[2])
                return len(body["Volumes"] or []) == want

            wait_until(listed, timeout=120, what="Go to list the volume")
            elapsed = time.perf_counter() - start
            figures[label] = {"rss": rss_bytes(volume.process.pid), "seconds": elapsed}
    return {
        "rss_growth_per_needle": (figures["loaded"]["rss"] - figures["empty"]["rss"]) / count,
        "load_seconds": figures["loaded"]["seconds"] - figures["empty"]["seconds"],
    }


def bench_core_io(count: int, workdir: str) -> dict:
    directory = os.path.join(workdir, "io")
    store = Store(
        [
            DiskLocation(
                directory, 8, needle_map_kind=MemoryNeedleMapKind(), default_width=OffsetWidth.FIVE
            )
        ]
    )
    store.add_volume(1)
    payload = random.Random(1).randbytes(1024)
    needles = []
    for i in range(1, count + 1):
        n = Needle(cookie=7, id=i, data=payload)
        n.set_last_modified(1_700_000_000)
        n.update_checksum()
        needles.append(n)
    start = time.perf_counter()
    for n in needles:
        store.write_needle(1, n)
    write_seconds = time.perf_counter() - start
    order = list(range(1, count + 1))
    random.Random(2).shuffle(order)
    start = time.perf_counter()
    for i in order:
        store.read_needle(1, i, cookie=7)
    read_seconds = time.perf_counter() - start
    store.close()
    return {
        "append_per_second": count / write_seconds,
        "append_mb_per_second": count * 1024 / write_seconds / 1e6,
        "random_read_per_second": count / read_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--needles", type=int, default=1_000_000)
    parser.add_argument("--io-needles", type=int, default=100_000)
    parser.add_argument("--skip-go", action="store_true")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="sv-bench-")
    try:
        maps = bench_maps(args.needles, workdir)
        go = None if args.skip_go else bench_go(args.needles, workdir)
        io = bench_core_io(args.io_needles, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    n = args.needles
    print(f"\nNeedle maps holding {n:,} needles (5-byte offsets)")
    print(f"{'kind':<22}{'bytes/needle (map)':>20}{'RSS growth/needle':>20}{'load entries/s':>18}")
    for name, r in maps.items():
        print(
            f"{name:<22}{r['map_bytes_per_needle']:>20.1f}{r['rss_growth_per_needle']:>20.1f}"
            f"{r['entries_per_second']:>18,.0f}"
        )
    if go:
        print(
            f"{'Go 4.48 (compact map)':<22}{'-':>20}{go['rss_growth_per_needle']:>20.1f}"
            f"{n / max(go['load_seconds'], 1e-9):>18,.0f}"
        )
        print("(Go's load figure is server start-to-listed minus an empty start: an upper bound.)")
    print(f"\nCore I/O, {args.io_needles:,} needles of 1 KiB, one thread")
    print(
        f"append: {io['append_per_second']:,.0f} needles/s ({io['append_mb_per_second']:.1f} MB/s)"
    )
    print(f"random read: {io['random_read_per_second']:,.0f} needles/s")


if __name__ == "__main__":
    main()
