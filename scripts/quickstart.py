"""Start a local Go master and our volume server on ./data, print how to use them.

Ctrl-C (or SIGTERM) stops both cleanly. Arguments are passed on to ``seaweed-volume``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASTER_PORT = int(os.environ.get("MASTER_PORT", "9333"))
VOLUME_PORT = int(os.environ.get("VOLUME_PORT", "8080"))


def wait_for(url: str, process: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{what} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{what} did not come up at {url}")


def main() -> None:
    data = os.path.join(ROOT, "data")
    os.makedirs(os.path.join(data, "master"), exist_ok=True)
    os.makedirs(os.path.join(data, "volume"), exist_ok=True)
    bin_dir = os.path.dirname(sys.executable)
    master = subprocess.Popen(
        [
            os.path.join(bin_dir, "weed"),
            "master",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-port={MASTER_PORT}",
            f"-mdir={os.path.join(data, 'master')}",
            "-peers=none",
            "-volumeSizeLimitMB=1024",
        ]
    )
    wait_for(f"http://127.0.0.1:{MASTER_PORT}/cluster/status", master, "Go master")
    volume = subprocess.Popen(
        [
            os.path.join(bin_dir, "seaweed-volume"),
            "-ip=127.0.0.1",
            f"-port={VOLUME_PORT}",
            f"-dir={os.path.join(data, 'volume')}",
            f"-master=127.0.0.1:{MASTER_PORT}",
            "-preStopSeconds=0",
            *sys.argv[1:],
        ]
    )
    wait_for(f"http://127.0.0.1:{VOLUME_PORT}/status", volume, "seaweed-volume")
    master_url = f"http://127.0.0.1:{MASTER_PORT}"
    volume_url = f"http://127.0.0.1:{VOLUME_PORT}"
    pick_fid = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"fid\"])'"
    print(
        f"seaweed-volume serves ./data/volume on {volume_url} for the Go master {master_url}\n"
        f"  fid=$(curl -s {master_url}/dir/assign | {pick_fid})\n"
        f"  curl -F file=@README.md {volume_url}/$fid\n"
        f"  curl {volume_url}/$fid\n"
        f"  curl '{volume_url}/status?pretty=y'    # OpenAPI: {volume_url}/docs\n"
        "Ctrl-C stops both.",
        flush=True,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and volume.poll() is None and master.poll() is None:
        time.sleep(0.5)
    for process in (volume, master):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in (volume, master):
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
