"""A 200 MB GET from the Go 4.48 volume server and from ours, side by side.

Both servers hold the same 200 MB needle (raw PUT). Each round downloads it once from each
server, reading 1 MiB at a time, while a sampler polls the server's resident memory every
20 ms: the figures are MB/s and how far the RSS rose above its level before the request
(the target: under 20 MB, i.e. the body is streamed, not held). Medians of the rounds are
printed and stored in ``benchmarks/results/large_file.json``. Not a test.

Run: ``.venv/bin/python benchmarks/large_file_benchmark.py [--rounds 3] [--mb 200]``
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from benchmarks.http_benchmark import server_pid
from benchmarks.results import alternating, paired_ratio, status_bytes, store_result
from tests.support.pair import go_and_ours

FID = "/1,7777deadbeef"


def upload(url: str, content: bytes) -> None:
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=300)
    connection.request("PUT", FID, content, {"Content-Type": "application/octet-stream"})
    response = connection.getresponse()
    response.read()
    if response.status != 201:
        raise RuntimeError(f"upload to {url}: {response.status}")


def download(url: str, pid: int, expected: int) -> tuple[float, int]:
    """(MB/s, RSS growth in bytes) of one GET."""
    baseline = status_bytes(pid, "VmRSS")
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, status_bytes(pid, "VmRSS"))

    sampler = threading.Thread(target=sample)
    sampler.start()
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=300)
    started = time.perf_counter()
    try:
        connection.request("GET", FID)
        response = connection.getresponse()
        received = 0
        while chunk := response.read(1 << 20):
            received += len(chunk)
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        connection.close()
    if received != expected:
        raise RuntimeError(f"{url} sent {received} of {expected} bytes")
    return expected / elapsed / 1e6, peak - baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    content = os.urandom(args.mb * 1_000_000)
    figures: dict[str, list[tuple[float, int]]] = {"go": [], "ours": []}
    workdir = tempfile.mkdtemp(prefix="sv-large-bench-")
    with go_and_ours(
        workdir, our_flags=["-fileSizeLimitMB=1024"], go_flags=["-fileSizeLimitMB=1024"]
    ) as (go_url, our_url):
        urls = {"go": go_url, "ours": our_url}
        pids = {name: server_pid(int(url.rsplit(":", 1)[1])) for name, url in urls.items()}
        for url in urls.values():
            upload(url, content)
        del content
        for round_number in range(args.rounds):
            for name, url in alternating(list(urls.items()), round_number):
                speed, growth = download(url, pids[name], args.mb * 1_000_000)
                figures[name].append((speed, growth))
                print(
                    f"round {round_number + 1} {name:>4}: {speed:>8,.0f} MB/s, "
                    f"RSS +{growth / 2**20:,.1f} MB",
                    flush=True,
                )
    summary = {}
    for name, runs in figures.items():
        summary[name] = {
            "mb_per_s": statistics.median(r[0] for r in runs),
            "rss_growth_mb": statistics.median(r[1] for r in runs) / 2**20,
        }
    ratio = paired_ratio([r[0] for r in figures["ours"]], [r[0] for r in figures["go"]])
    print(f"\n{args.mb} MB GET, median of {args.rounds} rounds")
    print(f"{'':<16}{'Go 4.48':>10}{'ours':>10}{'ratio':>8}")
    print(
        f"{'MB/s':<16}{summary['go']['mb_per_s']:>10,.0f}{summary['ours']['mb_per_s']:>10,.0f}"
        f"{ratio:>8.2f}"
    )
    print(
        f"{'RSS growth MB':<16}{summary['go']['rss_growth_mb']:>10.1f}"
        f"{summary['ours']['rss_growth_mb']:>10.1f}"
    )
    store_result(
        "large_file",
        {"size_mb": args.mb, "rounds": args.rounds, "results": summary, "ratio": ratio},
    )


if __name__ == "__main__":
    main()
