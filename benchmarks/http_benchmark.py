"""wrk straight at the Go 4.48 volume server and at ours, side by side.

Two clusters on loopback (a Go master each; one with Go's volume server, one with ours). Each
volume server is pinned to CPU 0 and wrk to CPU 1, 16 connections, 1 KiB bodies:

* ``GET``: random reads of preloaded needles;
* ``POST``: raw 1 KiB uploads of new needles;
* ``POST fsync``: the same with ``fsync=true`` (group commit on our side).

Rounds alternate between the servers; the medians, ratios and the servers' peak RSS are
printed and stored in ``benchmarks/results/http.json`` (see ``benchmarks/report.py``). Not a
test.

Run: ``.venv/bin/python benchmarks/http_benchmark.py [--rounds 3] [--seconds 10]``
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from benchmarks.results import alternating, paired_ratio, status_bytes, store_result
from tests.support.pair import go_and_ours

TESTS = ("GET", "POST", "POST fsync")
PRELOADED = 10_000
BODY = bytes(range(256)) * 4
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")

GET_SCRIPT = """
request = function()
  local key = math.random(1, %(count)d)
  return wrk.format("GET", string.format("/1,%%xdeadbeef", key))
end
"""

POST_SCRIPT = """
local counter = 0
local body = string.rep("x", 1024)
setup = function(thread) thread:set("base", %(base)d) end
request = function()
  counter = counter + 1
  local path = string.format("/1,%%xdeadbeef%(query)s", base + counter)
  return wrk.format("POST", path, {["Content-Type"] = "application/octet-stream"}, body)
end
"""


def preload(url: str) -> None:
    host = url.removeprefix("http://")
    connection = http.client.HTTPConnection(host, timeout=30)
    headers = {"Content-Type": "application/octet-stream"}
    for key in range(1, PRELOADED + 1):
        connection.request("PUT", f"/1,{key:x}deadbeef", BODY, headers)
        response = connection.getresponse()
        response.read()
        if response.status != 201:
            raise RuntimeError(f"preload {key} on {url}: {response.status}")
    connection.close()


def server_pid(port: int) -> int:
    """The process listening on ``port`` (the volume server)."""
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    match = re.search(r"pid=(\d+)", out.stdout)
    if not match:
        raise RuntimeError(f"no process listens on {port}")
    return int(match.group(1))


def wrk(url: str, script: str, seconds: int, connections: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        result = subprocess.run(
            [
                "taskset",
                "-c",
                "1",
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "-s",
                lua.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    finally:
        os.unlink(lua.name)
    rate = _RATE.search(result.stdout)
    errors = _ERRORS.search(result.stdout)
    if rate is None or errors is not None:
        raise RuntimeError(f"wrk failed against {url}:\n{result.stdout}\n{result.stderr}")
    return float(rate.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("--ours-flag", action="append", default=[], help="extra server flag")
    parser.add_argument(
        "--test", action="append", choices=TESTS, help="run only these (default: all)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing (apt install wrk)")
    workdir = tempfile.mkdtemp(prefix="sv-http-bench-")
    tests = tuple(args.test or TESTS)
    rates: dict[str, dict[str, list[float]]] = {t: {"go": [], "ours": []} for t in tests}
    base = 1_000_000
    with go_and_ours(workdir, our_flags=args.ours_flag) as (go_url, our_url):
        urls = {"go": go_url, "ours": our_url}
        pids = {name: server_pid(int(url.rsplit(":", 1)[1])) for name, url in urls.items()}
        for pid in pids.values():
            subprocess.run(["taskset", "-a", "-cp", "0", str(pid)], capture_output=True, check=True)
        for url in urls.values():
            preload(url)
        for round_number in range(args.rounds):
            for test in tests:
                for name, url in alternating(list(urls.items()), round_number):
                    if test == "GET":
                        script = GET_SCRIPT % {"count": PRELOADED}
                    else:
                        query = "?fsync=true" if test == "POST fsync" else ""
                        base += 10_000_000
                        script = POST_SCRIPT % {"base": base, "query": query}
                    rate = wrk(url, script, args.seconds, args.connections)
                    rates[test][name].append(rate)
                    print(f"round {round_number + 1} {test:<11}{name:>5}: {rate:>10,.0f} req/s")
                    time.sleep(1)  # let the previous run's connections close
        rss = {name: status_bytes(pid, "VmHWM") for name, pid in pids.items()}
    print(f"\nwrk -c{args.connections}, 1 KiB, server on one core, median of {args.rounds} rounds")
    print(f"{'':<12}{'Go 4.48':>10}{'ours':>10}{'ratio':>8}")
    summary = {}
    for test in tests:
        go, ours = (statistics.median(rates[test][n]) for n in ("go", "ours"))
        ratio = paired_ratio(rates[test]["ours"], rates[test]["go"])
        summary[test] = {"go": go, "ours": ours, "ratio": ratio}
        print(f"{test:<12}{go:>10,.0f}{ours:>10,.0f}{ratio:>8.2f}")
    print(f"{'peak RSS MB':<12}{rss['go'] / 2**20:>10.0f}{rss['ours'] / 2**20:>10.0f}")
    store_result("http", {"unit": "req/s", "rounds": args.rounds, "results": summary})


if __name__ == "__main__":
    main()
