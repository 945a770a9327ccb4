"""scripts/quickstart.py (what scripts/run.sh runs once .venv is set up): checks its ports
first, claims only what it checked, stops what it started and exits non-zero on failure."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.interop.conftest import upload
from tests.support.go_cluster import free_port_pair, http, wait_until

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "quickstart.py"


def _env(master_port: int, volume_port: int, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MASTER_PORT": str(master_port),
        "VOLUME_PORT": str(volume_port),
        "DATA_DIR": str(data_dir),
    }


def _launch(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, int, int]:
    master_port, volume_port = free_port_pair(), free_port_pair()
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(master_port, volume_port, tmp_path / "data"),
    )
    return process, master_port, volume_port


def _command_line(*fragments: str) -> list[str]:
    """The arguments of the running process whose command line holds every fragment."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if all(fragment in args for fragment in fragments):
            return args
    raise AssertionError(f"no process with {fragments}")


def _lines(stream) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_starts_checks_and_stops(tmp_path: Path) -> None:
    process, master_port, volume_port = _launch(tmp_path)
    try:
        lines = _lines(process.stdout)
        seen: list[str] = []
        deadline = time.monotonic() + 90
        while not any(line.startswith("Ctrl-C stops both") for line in seen):
            assert time.monotonic() < deadline, seen
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, (seen, process.stderr.read())
            seen.append(line)
        text = "".join(seen)
        assert "\nReady: seaweed-volume answers" in text and "-metricsPort" in text
        master_url = f"http://127.0.0.1:{master_port}"
        # What "Ready" claims holds: the master lists our server, which serves uploads.
        status, _, body = http("GET", f"{master_url}/dir/status")
        assert f"127.0.0.1:{volume_port}" in body.decode()
        assigned = json.loads(http("GET", f"{master_url}/dir/assign")[2])
        assert assigned["url"] == f"127.0.0.1:{volume_port}"
        upload(f"http://{assigned['url']}/{assigned['fid']}", b"hello", "h.txt")
        vid = assigned["fid"].split(",")[0]
        vif = json.loads((tmp_path / "data" / "volume" / f"{vid}.vif").read_text())
        assert vif["bytesOffset"] == 5  # as the PyPI weed writes, so volumes can move to Go
        assert "-telemetry=false" in _command_line("master", f"-port={master_port}")
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0
    assert _port_free(master_port) and _port_free(volume_port)


def test_refuses_a_taken_port_before_starting_anything(tmp_path: Path) -> None:
    master_port, volume_port = free_port_pair(), free_port_pair()
    env = _env(master_port, volume_port, tmp_path / "data2")
    with socket.create_server(("127.0.0.1", volume_port + 10000)):
        result = subprocess.run(
            [sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=60
        )
    assert result.returncode == 1
    assert f"port {volume_port + 10000} (seaweed-volume gRPC) is not free" in result.stderr
    assert "Ready" not in result.stdout
    assert not (tmp_path / "data2").exists()  # nothing was started


def test_a_failing_volume_server_fails_the_run(tmp_path: Path) -> None:
    process, master_port, _ = _launch(tmp_path, "-index=bogus")
    out, err = process.communicate(timeout=90)
    assert process.returncode == 1
    assert "seaweed-volume exited with status 1" in err
    assert "-index=bogus: unknown needle map kind" in err
    assert "Ready" not in out
    wait_until(lambda: _port_free(master_port), what="the master to be stopped")
