"""Total PSS of our server's processes with 1M needles loaded, ``-workers=1`` against ``=2``.

One volume of 1M tiny needles (5-byte offsets) is written in-process with the core library,
no HTTP; then our server is started on that directory (``-index=memory``, a Go master beside
it) once per ``-workers`` setting, serves one GET, and the PSS of every one of its processes
(the one started and all its descendants, ``/proc/<pid>/smaps_rollup``) is summed. The
figures are printed and stored in ``benchmarks/results/workers_memory.json``. Not a test.

Run: ``.venv/bin/python benchmarks/workers_memory.py [--needles 1000000]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from benchmarks.results import store_result
from benchmarks.workers_benchmark import descendants, total_pss
from seaweed_volume.core.disk_location import DiskLocation
from seaweed_volume.core.needle.record import Needle
from seaweed_volume.core.needle_map.memory import MemoryNeedleMapKind
from seaweed_volume.core.store import Store
from seaweed_volume.core.types import OffsetWidth
from tests.support.go_cluster import GoCluster, http
from tests.support.our_server import OurServer

COOKIE = 0xDEADBEEF


def write_volume(data_dir: str, needles: int) -> None:
    """Volume 1 holding needles 1..``needles`` of one byte each."""
    location = DiskLocation(
        data_dir, 8, needle_map_kind=MemoryNeedleMapKind(), default_width=OffsetWidth.FIVE
    )
    store = Store([location])
    store.load_existing_volumes()
    store.add_volume(1)
    for key in range(1, needles + 1):
        needle = Needle(cookie=COOKIE, id=key, data=b"x")
        needle.update_checksum()
        store.write_needle(1, needle, check_cookie=False)
    store.close()


def measure(data_dir: str, workdir: str, workers: int, needles: int) -> tuple[int, int]:
    """(total PSS bytes, processes) of our server with ``-workers=workers`` after one GET."""
    cluster = GoCluster(os.path.join(workdir, f"workers{workers}"))
    os.makedirs(cluster.workdir)
    ours = OurServer(
        data_dir,
        cluster.master_port,
        os.path.join(cluster.workdir, "ours.log"),
        extra=[f"-workers={workers}", "-index=memory"],
    )
    try:
        cluster.start_master()
        ours.start()
        ours.wait_registered(cluster.master_url, volumes=1)
        status, _, body = http("GET", f"{ours.url}/1,{needles // 2:x}{COOKIE:08x}")
        if status != 200 or body != b"x":
            raise RuntimeError(f"GET answered {status}: {body[:200]!r}\n{ours.log_tail()}")
        time.sleep(1)  # let the processes settle after start-up
        assert ours.process is not None
        for pid in descendants(ours.process.pid):
            print(f"  pid {pid}: {total_pss(pid, tree=False)[0] / 2**20:.1f} MB PSS")
        return total_pss(ours.process.pid)
    finally:
        ours.stop()
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--needles", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="sv-workers-memory-")
    data_dir = os.path.join(workdir, "data")
    os.makedirs(data_dir)
    try:
        start = time.monotonic()
        write_volume(data_dir, args.needles)
        print(f"wrote {args.needles:,} needles in {time.monotonic() - start:.0f}s")
        figures = {}
        for workers in (1, 2):
            pss, processes = measure(data_dir, workdir, workers, args.needles)
            figures[f"-workers={workers}"] = {"pss_mb": pss / 2**20, "processes": processes}
            print(f"-workers={workers}: {pss / 2**20:.1f} MB PSS in {processes} processes")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    ratio = figures["-workers=2"]["pss_mb"] / figures["-workers=1"]["pss_mb"]
    print(f"ratio -workers=2 / -workers=1: {ratio:.2f}")
    path = store_result(
        "workers_memory",
        {"needles": args.needles, "index": "memory", "results": figures, "ratio": ratio},
    )
    print(f"stored in {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
