"""Start a local Go master and our volume server, check both, print how to use them.

Ports come from MASTER_PORT (9333) and VOLUME_PORT (8080), each with its +10000 gRPC twin; data
and logs go to DATA_DIR (./data). Every port is checked before anything starts. Success is
printed only once the volume server answers ``/status`` and the master lists it. Ctrl-C (or
SIGTERM) stops both (exit 0); if either fails or dies, the other is stopped and the exit status
is 1. Arguments are passed on to ``seaweed-volume``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASTER_PORT = int(os.environ.get("MASTER_PORT", "9333"))
VOLUME_PORT = int(os.environ.get("VOLUME_PORT", "8080"))
DATA_DIR = os.path.abspath(os.environ.get("DATA_DIR", os.path.join(ROOT, "data")))
HOST = "127.0.0.1"


class Failed(Exception):
    """Why the cluster is not up; printed, then the exit status is 1."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM before the cluster was up."""


STOP_REQUESTED = False


def say(message: str) -> None:
    print(f"run: {message}", flush=True)


def flag_value(args: list[str], name: str) -> str | None:
    """The value of ``-name=value`` / ``--name value`` among the volume server's arguments."""
    for i, arg in enumerate(args):
        body = arg.lstrip("-")
        if body.startswith(name + "="):
            return body.split("=", 1)[1]
        if body == name and i + 1 < len(args):
            return args[i + 1]
    return None


def check_ports(ports: dict[int, str]) -> None:
    for port, what in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError as err:
                raise Failed(
                    f"port {port} ({what}) is not free: {err.strerror}; "
                    "choose others with MASTER_PORT=... VOLUME_PORT=..."
                ) from None


def get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return json.load(reply) if reply.status == 200 else None
    except (OSError, ValueError):
        return None


class Process:
    def __init__(self, name: str, args: list[str], log_path: str) -> None:
        self.name, self.log_path = name, log_path
        with open(log_path, "ab") as log:
            # A session of its own: Ctrl-C reaches this script, which stops it in order.
            self.popen = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise Failed(
                f"{self.name} exited with status {self.popen.returncode}; "
                f"the end of {self.log_path}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 15) -> str:
        with open(self.log_path, errors="replace") as src:
            return "".join(src.readlines()[-lines:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def wait_for(check: Callable[[], object], process: Process, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if STOP_REQUESTED:
            raise Interrupted
        process.check_alive()
        if check():
            return
        time.sleep(0.2)
    raise Failed(
        f"{what} not seen within {timeout:.0f}s; the end of {process.log_path}:\n"
        f"{process.log_tail()}"
    )


def lists_node(master_url: str, address: str) -> bool:
    topology = (get_json(f"{master_url}/dir/status") or {}).get("Topology", {})
    for dc in topology.get("DataCenters") or []:
        for rack in dc.get("Racks") or []:
            for node in rack.get("DataNodes") or []:
                if node.get("Url") == address:
                    return True
    return False


def start(args: list[str], running: list[Process]) -> None:
    metrics_port = flag_value(args, "metricsPort")
    ports = {
        MASTER_PORT: "Go master HTTP",
        MASTER_PORT + 10000: "Go master gRPC",
        VOLUME_PORT: "seaweed-volume HTTP",
        VOLUME_PORT + 10000: "seaweed-volume gRPC",
    }
    if metrics_port and metrics_port != "0":
        ports[int(metrics_port)] = "seaweed-volume -metricsPort"
    check_ports(ports)
    os.makedirs(os.path.join(DATA_DIR, "master"), exist_ok=True)
    os.makedirs(os.path.join(DATA_DIR, "volume"), exist_ok=True)
    bin_dir = os.path.dirname(sys.executable)
    master_url = f"http://{HOST}:{MASTER_PORT}"
    volume_url = f"http://{HOST}:{VOLUME_PORT}"

    say(f"starting the Go master on {master_url} (log: {DATA_DIR}/master.log)")
    master = Process(
        "the Go master",
        [
            os.path.join(bin_dir, "weed"),
            "master",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-port={MASTER_PORT}",
            f"-mdir={os.path.join(DATA_DIR, 'master')}",
            "-peers=none",
            "-volumeSizeLimitMB=1024",
            "-telemetry=false",
        ],
        os.path.join(DATA_DIR, "master.log"),
    )
    running.append(master)
    wait_for(lambda: get_json(f"{master_url}/cluster/status"), master, "the Go master")

    say(f"starting seaweed-volume on {volume_url} (log: {DATA_DIR}/volume.log)")
    volume = Process(
        "seaweed-volume",
        [
            os.path.join(bin_dir, "seaweed-volume"),
            f"-ip={HOST}",
            f"-port={VOLUME_PORT}",
            f"-dir={os.path.join(DATA_DIR, 'volume')}",
            f"-master={HOST}:{MASTER_PORT}",
            "-offsetBytes=5",  # the width of the PyPI weed build, so volumes can move to Go
            "-preStopSeconds=0",
            *args,
        ],
        os.path.join(DATA_DIR, "volume.log"),
    )
    running.append(volume)
    wait_for(lambda: get_json(f"{volume_url}/status"), volume, "seaweed-volume's /status")
    address = f"{HOST}:{VOLUME_PORT}"
    wait_for(lambda: lists_node(master_url, address), volume, "the master listing seaweed-volume")

    pick_fid = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"fid\"])'"
    metrics = (
        f"Prometheus metrics on http://{HOST}:{metrics_port}/metrics"
        if metrics_port and metrics_port != "0"
        else "Prometheus metrics: pass -metricsPort=9100 (to scripts/run.sh) for /metrics"
    )
    print(
        f"Ready: seaweed-volume answers {volume_url}/status and the Go master {master_url}"
        " lists it.\n"
        f"  fid=$(curl -s {master_url}/dir/assign | {pick_fid})\n"
        f"  curl -F file=@README.md {volume_url}/$fid\n"
        f"  curl {volume_url}/$fid\n"
        f"  curl '{volume_url}/status?pretty=y'    # OpenAPI: {volume_url}/docs\n"
        f"  {metrics}\n"
        "Ctrl-C stops both.",
        flush=True,
    )


def main() -> int:
    running: list[Process] = []

    def stop(*_: object) -> None:
        global STOP_REQUESTED
        STOP_REQUESTED = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    status = 0
    try:
        start(sys.argv[1:], running)
        while not STOP_REQUESTED:
            for process in running:
                process.check_alive()
            time.sleep(0.5)
        say("stopping")
    except Failed as err:
        print(f"run: failed: {err}", file=sys.stderr, flush=True)
        status = 1
    except Interrupted:
        say("interrupted before the cluster was up")
        status = 130
    finally:
        for process in reversed(running):
            process.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
