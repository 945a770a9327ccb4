"""``weed benchmark`` against the Go 4.48 volume server and ours, side by side.

Two clusters on loopback, each a Go master with one volume server (Go's, or ours). The rounds
alternate between them; the script prints the median write and read req/s of each, their
ratio, and the peak RSS (VmHWM) of each volume server. Not a test.

Run: ``.venv/bin/python benchmarks/weed_benchmark.py [--rounds 3] [-n 20000] [-c 16]``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from benchmarks.results import alternating, paired_ratio, status_bytes, store_result
from tests.support.go_cluster import GoCluster, weed_binary
from tests.support.our_server import OurServer

_RATE = re.compile(r"Requests per second:\s+([\d.]+)")
_FAILED = re.compile(r"Failed requests:\s+(\d+)")


def run_benchmark(master_port: int, n: int, concurrency: int) -> tuple[float, float]:
    result = subprocess.run(
        [
            weed_binary(),
            "benchmark",
            f"-master=127.0.0.1:{master_port}",
            f"-n={n}",
            f"-c={concurrency}",
            "-size=1024",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    rates = [float(r) for r in _RATE.findall(result.stdout)]
    failed = sum(int(f) for f in _FAILED.findall(result.stdout))
    if len(rates) != 2 or failed or not all(rates):
        raise RuntimeError(f"unexpected weed benchmark output:\n{result.stdout}\n{result.stderr}")
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("-c", type=int, default=16)
    parser.add_argument(
        "--ours-flag",
        action="append",
        default=[],
        help="extra seaweed-volume flag, e.g. --ours-flag=-workers=2",
    )
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="sv-weed-bench-")
    go_cluster = GoCluster(os.path.join(workdir, "go"))
    our_cluster = GoCluster(os.path.join(workdir, "ours"))
    for cluster in (go_cluster, our_cluster):
        os.makedirs(cluster.workdir)
    results: dict[str, list[tuple[float, float]]] = {"go": [], "ours": []}
    ours = None
    try:
        go_cluster.start_master(volume_size_limit_mb=1024)
        os.makedirs(os.path.join(workdir, "go", "data"))
        go_volume = go_cluster.start_volume(os.path.join(workdir, "go", "data"))
        our_cluster.start_master(volume_size_limit_mb=1024)
        ours = OurServer(
            os.path.join(workdir, "ours", "data"),
            our_cluster.master_port,
            os.path.join(workdir, "ours", "volume.log"),
        )
        ours.start()
        ours.wait_registered(our_cluster.master_url)
        for round_number in range(args.rounds):
            order = [("go", go_cluster), ("ours", our_cluster)]
            for name, cluster in alternating(order, round_number):
                rates = run_benchmark(cluster.master_port, args.n, args.c)
                results[name].append(rates)
                print(
                    f"round {round_number + 1} {name:>4}: write {rates[0]:>9,.0f} req/s  "
                    f"read {rates[1]:>9,.0f} req/s",
                    flush=True,
                )
        rss = {
            "go": status_bytes(go_volume.process.pid, "VmHWM"),
            "ours": status_bytes(ours.process.pid, "VmHWM"),
        }
    finally:
        if ours is not None:
            ours.stop()
        go_cluster.stop()
        our_cluster.stop()
    write = {k: statistics.median(r[0] for r in v) for k, v in results.items()}
    read = {k: statistics.median(r[1] for r in v) for k, v in results.items()}
    print(f"\nweed benchmark -c={args.c} -n={args.n} -size=1024, median of {args.rounds} rounds")
    print(f"{'':<8}{'Go 4.48':>12}{'ours':>12}{'ratio':>8}")
    ratios = {
        label: paired_ratio([r[index] for r in results["ours"]], [r[index] for r in results["go"]])
        for index, label in enumerate(("write", "read"))
    }
    for label, figures in (("write", write), ("read", read)):
        ratio = ratios[label]
        print(f"{label:<8}{figures['go']:>12,.0f}{figures['ours']:>12,.0f}{ratio:>8.2f}")
    print(
        f"{'peak RSS':<8}{rss['go'] / 2**20:>10.0f}MB{rss['ours'] / 2**20:>10.0f}MB"
        f"{rss['ours'] / rss['go']:>8.2f}"
    )
    results = {
        label: {
            "go": figures["go"],
            "ours": figures["ours"],
            "ratio": ratios[label],
        }
        for label, figures in (("write", write), ("read", read))
    }
    results["peak RSS MB"] = {
        "go": rss["go"] / 2**20,
        "ours": rss["ours"] / 2**20,
        "ratio": rss["ours"] / rss["go"],
    }
    store_result(
        "weed",
        {"unit": "req/s", "n": args.n, "c": args.c, "rounds": args.rounds, "results": results},
    )


if __name__ == "__main__":
    main()
