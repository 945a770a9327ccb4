"""Go 4.48's volume server against ours with ``-workers=1`` and ``-workers=2``, in one run.

Each server runs beside its own Go master on loopback, nothing pinned: the servers, the masters
and wrk (2 threads, 32 connections) share the machine's cores. 1 KiB bodies:

* ``GET``: random reads of preloaded needles;
* ``POST``: raw uploads of new needles;
* ``POST fsync``: the same with ``?fsync=true``;
* ``POST jwt``: the same with a ``jwt`` write token per file id (a second set of servers,
  started with a ``security.toml`` holding a signing key; the tokens are made beforehand).

For every wrk run the server's CPU time is read from ``/proc`` before and after, summed over
the process listening on the port and all its descendants (``utime + stime``, plus the
``cutime + cstime`` of children already reaped), giving CPU microseconds per request and
cores used (CPU seconds / wall seconds); wrk's own cores and those of everything else on the
machine (``others``, from ``/proc/stat``: the masters, other work) show how clean the run was.
The servers' total PSS is read after the runs. Rounds
alternate the servers' order; medians are printed and stored in
``benchmarks/results/workers.json``. Not a test.

Run: ``.venv/bin/python benchmarks/workers_benchmark.py [--rounds 2] [--seconds 8]``
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPConnection

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from benchmarks.results import alternating, store_result
from tests.support.go_cluster import GoCluster, http, wait_until
from tests.support.our_server import OurServer

TESTS = ("GET", "POST", "POST fsync", "POST jwt")
PRELOADED = 10_000
BODY = bytes(range(256)) * 4
JWT_KEY = "workers-benchmark-write-key-0123456789"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_REQUESTS = re.compile(r"(\d+) requests in ([\d.]+)(m?s)")
_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: (.*)")

GET_SCRIPT = """
request = function()
  local key = math.random(1, %(count)d)
  return wrk.format("GET", string.format("/1,%%xdeadbeef", key))
end
"""

# Every thread counts from its own base, so no two requests name the same file id (Go skips
# rewriting an unchanged needle, which would flatter it).
POST_SCRIPT = """
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("base", %(base)d + threads * 100000000)
end
local counter = 0
local body = string.rep("x", 1024)
request = function()
  counter = counter + 1
  local path = string.format("/1,%%xdeadbeef%(query)s", base + counter)
  return wrk.format("POST", path, {["Content-Type"] = "application/octet-stream"}, body)
end
"""

# Thread i of n takes every n-th line of the token file (a path with its own ``jwt``).
JWT_SCRIPT = """
local threads = 0
setup = function(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local paths = {}
local counter = 0
local body = string.rep("x", 1024)
init = function(args)
  local line_number = 0
  for line in io.lines("%(tokens)s") do
    if line_number %% %(threads)d == id then paths[#paths + 1] = line end
    line_number = line_number + 1
  end
end
request = function()
  counter = counter + 1
  local path = paths[(counter - 1) %% #paths + 1]
  return wrk.format("POST", path, {["Content-Type"] = "application/octet-stream"}, body)
end
"""

SECURITY = f"""
[jwt.signing]
key = "{JWT_KEY}"
expires_after_seconds = 3600
"""


# --- /proc ---------------------------------------------------------------------------------
def descendants(root: int) -> list[int]:
    """``root`` and every live process below it (walks ``/proc`` for parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry}/stat") as src:
                fields = src.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def cpu_ticks(root: int) -> int:
    """Clock ticks spent by ``root``'s tree: fields 14-17 of ``/proc/<pid>/stat`` (own time
    and that of reaped children, so a restarted worker's time is not lost)."""
    total = 0
    for pid in descendants(root):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/stat") as src:
                fields = src.read().rsplit(")", 1)[1].split()
            # fields[0] is field 3 (state): utime..cstime are fields 14..17.
            total += sum(int(value) for value in fields[11:15])
    return total


def machine_busy_ticks() -> int:
    """Clock ticks all cores spent not idle (first line of ``/proc/stat``)."""
    with open("/proc/stat") as src:
        values = [int(v) for v in src.readline().split()[1:]]
    return sum(values[:8]) - values[3] - values[4]  # user..steal, less idle and iowait


def children_cpu_seconds() -> float:
    """CPU seconds of this script's reaped children (wrk)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def total_pss(root: int, tree: bool = True) -> tuple[int, int]:
    """(PSS bytes summed over ``root``'s tree, or ``root`` alone, number of processes)."""
    pids = descendants(root) if tree else [root]
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as src:
            for line in src:
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
    return total, len(pids)


def listening_pid(port: int) -> int:
    """The process that bound ``port`` (the lowest of those sharing its socket)."""
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    pids = [int(p) for p in re.findall(r"pid=(\d+)", out.stdout)]
    if not pids:
        raise RuntimeError(f"no process listens on {port}")
    roots = [p for p in pids if not any(p in descendants(q) and p != q for q in pids)]
    return min(roots)


# --- servers -------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    url: str
    pid: int
    log_path: str
    rates: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def grow_volume_1(master_url: str, url: str) -> None:
    http("GET", f"{master_url}/vol/grow?count=1")

    def has_volume_1() -> bool:
        # A worker of ours absorbs a newly allocated volume when it next looks one up; its
        # /status alone does not (seen with -workers=2), so look one up first.
        http("GET", f"{url}/1,1deadbeef")
        volumes = json.loads(http("GET", f"{url}/status")[2])["Volumes"] or []
        return any(v["Id"] == 1 for v in volumes)

    wait_until(has_volume_1, what=f"volume 1 on {url}")


@contextlib.contextmanager
def servers(root: str, names: list[str], jwt: bool, our_flags: list[str]) -> Iterator[list[Server]]:
    """Start each named server (``go``, ``go GOMAXPROCS=1``, ``ours -workers=N``) with its
    own Go master, volume 1 grown; with ``jwt``, writes need a token signed with JWT_KEY."""
    os.makedirs(root, exist_ok=True)
    flags = list(our_flags)
    if jwt:
        security = os.path.join(root, "security.toml")
        with open(security, "w") as out:
            out.write(SECURITY)
        flags.append(f"-securityFile={security}")  # Go reads ./security.toml from its cwd
    started: list[Server] = []
    with contextlib.ExitStack() as stack:
        for index, name in enumerate(names):
            workdir = os.path.join(root, f"server{index}")
            data = os.path.join(workdir, "data")
            os.makedirs(data)
            cluster = GoCluster(workdir, cwd=root if jwt else None)
            stack.callback(cluster.stop)
            cluster.start_master()
            if name.startswith("go"):
                maxprocs = name.partition("GOMAXPROCS=")[2]
                previous = os.environ.get("GOMAXPROCS")
                if maxprocs:
                    os.environ["GOMAXPROCS"] = maxprocs
                try:
                    process = cluster.start_volume(data)
                finally:
                    if maxprocs:
                        os.environ.pop("GOMAXPROCS")
                        if previous is not None:
                            os.environ["GOMAXPROCS"] = previous
                url, log_path = cluster.volume_url, process.log_path
                assert process.process is not None
            else:
                workers = name.rpartition("=")[2]
                log_path = os.path.join(workdir, "ours.log")
                ours = OurServer(
                    data, cluster.master_port, log_path, extra=[f"-workers={workers}", *flags]
                )
                stack.callback(ours.stop)
                ours.start()
                ours.wait_registered(cluster.master_url)
                url = ours.url
            pid = listening_pid(int(url.rsplit(":", 1)[1]))
            grow_volume_1(cluster.master_url, url)
            started.append(Server(name, url, pid, log_path))
        yield started


def preload(url: str) -> None:
    connection = HTTPConnection(url.removeprefix("http://"), timeout=30)
    headers = {"Content-Type": "application/octet-stream"}
    for key in range(1, PRELOADED + 1):
        connection.request("PUT", f"/1,{key:x}deadbeef", BODY, headers)
        response = connection.getresponse()
        response.read()
        if response.status != 201:
            raise RuntimeError(f"preload {key} on {url}: {response.status}")
    connection.close()


# --- JWT -----------------------------------------------------------------------------------
def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def write_tokens(path: str, first_key: int, count: int) -> None:
    """``count`` request paths for fresh file ids, each with its HS256 write token."""
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    key = JWT_KEY.encode()
    expires = int(time.time()) + 3600
    with open(path, "w") as out:
        for needle in range(first_key, first_key + count):
            fid = f"1,{needle:x}deadbeef"
            claims = json.dumps({"exp": expires, "fid": fid}, separators=(",", ":"))
            signing_input = f"{header}.{_b64(claims.encode())}"
            signature = _b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())
            out.write(f"/{fid}?jwt={signing_input}.{signature}\n")


# --- wrk -----------------------------------------------------------------------------------
def wrk(url: str, script: str, seconds: int, threads: int, connections: int) -> tuple[int, str]:
    """(requests answered, wrk's report); raises on a non-2xx answer."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        result = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", lua.name, url],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
    finally:
        os.unlink(lua.name)
    done = _REQUESTS.search(result.stdout)
    if done is None or _RATE.search(result.stdout) is None or _ERRORS.search(result.stdout):
        raise RuntimeError(f"wrk failed against {url}:\n{result.stdout}\n{result.stderr}")
    return int(done.group(1)), result.stdout


def measure(server: Server, script: str, args: argparse.Namespace) -> dict[str, float]:
    """One wrk run: requests/s, server CPU µs per request, cores used."""
    busy, client = machine_busy_ticks(), children_cpu_seconds()
    ticks, start = cpu_ticks(server.pid), time.monotonic()
    requests, report = wrk(server.url, script, args.seconds, args.threads, args.connections)
    ticks, wall = cpu_ticks(server.pid) - ticks, time.monotonic() - start
    busy, client = machine_busy_ticks() - busy, children_cpu_seconds() - client
    cpu_seconds = ticks / CLOCK_TICKS
    socket_errors = _SOCKET_ERRORS.search(report)
    if socket_errors:
        print(f"  {server.name}: socket errors {socket_errors.group(1)}")
    return {
        "rps": requests / wall,
        "requests": requests,
        "cpu_us": cpu_seconds * 1e6 / requests,
        "cores": cpu_seconds / wall,
        "wrk_cores": client / wall,
        # Whatever else ran meanwhile (the master, other work on the machine): noise.
        "other_cores": max(0.0, busy / CLOCK_TICKS - cpu_seconds - client) / wall,
    }


def script_for(test: str, base: int, tokens: str, threads: int) -> str:
    if test == "GET":
        return GET_SCRIPT % {"count": PRELOADED}
    if test == "POST jwt":
        return JWT_SCRIPT % {"tokens": tokens, "threads": threads}
    query = "?fsync=true" if test == "POST fsync" else ""
    return POST_SCRIPT % {"base": base, "query": query}


def run_phase(
    servers_: list[Server], tests: list[str], args: argparse.Namespace, workdir: str
) -> None:
    base = 1_000_000_000
    for round_number in range(args.rounds):
        tokens = os.path.join(workdir, f"tokens{round_number}.txt")
        if "POST jwt" in tests:
            write_tokens(tokens, 10**12 * (round_number + 1), args.jwt_tokens)
        for test in tests:
            for server in alternating(servers_, round_number):
                base += 10**10
                figures = measure(server, script_for(test, base, tokens, args.threads), args)
                server.rates.setdefault(test, []).append(figures)
                print(
                    f"round {round_number + 1} {test:<11}{server.name:>18}: "
                    f"{figures['rps']:>9,.0f} req/s {figures['cpu_us']:>6.0f} µs/req "
                    f"{figures['cores']:>5.2f} cores (wrk {figures['wrk_cores']:.2f}, "
                    f"others {figures['other_cores']:.2f})"
                )
                if test == "POST jwt" and figures["requests"] > args.jwt_tokens:
                    print(f"  (more requests than --jwt-tokens {args.jwt_tokens}: ids reused)")
                time.sleep(0.5)  # let the previous run's connections close


def log_problems(server: Server) -> list[str]:
    """Lines of ours' log that look like trouble."""
    if server.name.startswith("go"):
        return []
    with open(server.log_path, errors="replace") as src:
        return [
            line.rstrip()
            for line in src
            if re.search(r"Traceback|ERROR|Error|exception|died|restart", line)
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("--jwt-tokens", type=int, default=150_000, help="tokens per round")
    parser.add_argument(
        "--workers", type=int, action="append", help="our -workers settings (default: 1 and 2)"
    )
    parser.add_argument("--go-maxprocs-1", action="store_true", help="also Go at GOMAXPROCS=1")
    parser.add_argument("--ours-flag", action="append", default=[], help="extra server flag")
    parser.add_argument("--test", action="append", choices=TESTS, help="only these")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing (apt-get install -y wrk)")
    names = ["go"] + (["go GOMAXPROCS=1"] if args.go_maxprocs_1 else [])
    names += [f"ours -workers={n}" for n in args.workers or (1, 2)]
    tests = list(args.test or TESTS)
    workdir = tempfile.mkdtemp(prefix="sv-workers-bench-")
    phases = [(False, [t for t in tests if t != "POST jwt"]), (True, ["POST jwt"])]
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    memory: dict[str, dict[str, float]] = {}
    problems: dict[str, list[str]] = {}
    try:
        for jwt, phase_tests in phases:
            phase_tests = [t for t in phase_tests if t in tests]
            if not phase_tests:
                continue
            root = os.path.join(workdir, "jwt" if jwt else "plain")
            with servers(root, names, jwt, args.ours_flag) as started:
                if "GET" in phase_tests:
                    with ThreadPoolExecutor() as pool:
                        list(pool.map(preload, [server.url for server in started]))
                run_phase(started, phase_tests, args, workdir)
                for server in started:
                    pss, processes = total_pss(server.pid)
                    if not jwt or server.name not in memory:
                        memory[server.name] = {"pss_mb": pss / 2**20, "processes": processes}
                    results.setdefault(server.name, {}).update(server.rates)
                    problems.setdefault(server.name, []).extend(log_problems(server))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print_and_store(names, tests, results, memory, problems, args)


def print_and_store(
    names: list[str],
    tests: list[str],
    results: dict[str, dict[str, list[dict[str, float]]]],
    memory: dict[str, dict[str, float]],
    problems: dict[str, list[str]],
    args: argparse.Namespace,
) -> None:
    print(
        f"\nwrk -t{args.threads} -c{args.connections}, 1 KiB, {os.cpu_count()} cores, nothing "
        f"pinned, median of {args.rounds} rounds of {args.seconds}s"
    )
    print(
        f"{'':<12}{'server':<18}{'req/s':>10}{'CPU µs/req':>12}{'cores':>8}{'vs Go':>8}"
        f"{'wrk':>7}{'others':>8}"
    )
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for test in tests:
        go_runs = results["go"][test]
        for name in names:
            runs = results[name][test]
            figures = {
                key: statistics.median(run[key] for run in runs)
                for key in ("rps", "cpu_us", "cores", "wrk_cores", "other_cores")
            }
            # Per-round ratios: each round's runs were back to back, so drift cancels.
            figures["vs_go"] = statistics.median(
                r["rps"] / g["rps"] for r, g in zip(runs, go_runs, strict=True)
            )
            summary.setdefault(test, {})[name] = figures
            print(
                f"{test:<12}{name:<18}{figures['rps']:>10,.0f}{figures['cpu_us']:>12.0f}"
                f"{figures['cores']:>8.2f}{figures['vs_go']:>8.2f}"
                f"{figures['wrk_cores']:>7.2f}{figures['other_cores']:>8.2f}"
            )
    others = statistics.median(
        figures["other_cores"] for by_server in summary.values() for figures in by_server.values()
    )
    if others > 0.2:
        print(
            f"note: other processes used a median {others:.2f} cores during the runs "
            "(the 'others' column): req/s and cores are skewed; CPU µs/req less so"
        )
    print("\ntotal PSS after the runs (all of a server's processes)")
    for name in names:
        print(f"{name:<30}{memory[name]['pss_mb']:>8.1f} MB in {memory[name]['processes']:.0f}")
    for name, lines in problems.items():
        if lines:
            print(f"\n{name}: {len(lines)} suspicious log lines, first ones:")
            print("\n".join(lines[:10]))
    path = store_result(
        "workers",
        {
            "unit": "req/s, server CPU µs per request, cores",
            "rounds": args.rounds,
            "seconds": args.seconds,
            "wrk": f"-t{args.threads} -c{args.connections}",
            "results": summary,
            "pss_mb": memory,
        },
    )
    print(f"\nstored in {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
