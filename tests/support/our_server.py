"""Run our volume server as a real subprocess (the console script), for cluster tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field

from tests.support.go_cluster import ProcessDied, free_port_pair, http, wait_until


def our_binary() -> str:
    candidate = os.path.join(os.path.dirname(sys.executable), "seaweed-volume")
    return candidate if os.path.exists(candidate) else "seaweed-volume"


@dataclass
class OurServer:
    data_dir: str
    master_port: int
    log_path: str
    extra: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port_pair)
    process: subprocess.Popen | None = None
    ip: str = "127.0.0.1"
    master_ip: str = "127.0.0.1"
    wrapper: list[str] = field(default_factory=list)
    """A command that runs the server, e.g. ``ip netns exec <name>``."""
    binary: str = field(default_factory=our_binary)
    """The ``seaweed-volume`` console script to run (another venv's, say)."""

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def start(self) -> None:
        for directory in self.data_dir.split(","):
            os.makedirs(directory, exist_ok=True)  # the server refuses a missing -dir, as Go
        args = [
            *self.wrapper,
            self.binary,
            f"-ip={self.ip}",
            f"-port={self.port}",
            f"-port.grpc={self.port + 10000}",
            f"-dir={self.data_dir}",
            "-max=8",
            f"-master={self.master_ip}:{self.master_port}",
            "-preStopSeconds=0",
            # One process unless a test asks for workers: the default (one per core) is run
            # by the quickstart test, tests/cluster/test_workers.py and the fuzz suite.
            *([] if any(arg.startswith("-workers=") for arg in self.extra) else ["-workers=1"]),
            *self.extra,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(self._ready, what="seaweed-volume to serve")

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ProcessDied(f"seaweed-volume exited early:\n{self.log_tail()}")
        return http("GET", f"{self.url}/status", timeout=5)[0] == 200

    def wait_registered(
        self, master_url: str, volumes: int | None = None, timeout: float = 60.0
    ) -> None:
        """Until the master lists this node (and, if given, that many volumes on it)."""

        def registered() -> bool:
            status, _, body = http("GET", f"{master_url}/dir/status")
            topology = json.loads(body).get("Topology", {})
            for dc in topology.get("DataCenters") or []:
                for rack in dc.get("Racks") or []:
                    for node in rack.get("DataNodes") or []:
                        if node.get("Url") == self.address:
                            return volumes is None or node.get("Volumes") == volumes
            return False

        wait_until(registered, timeout=timeout, what="the master to register seaweed-volume")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        try:
            with open(self.log_path, errors="replace") as src:
                return "".join(src.readlines()[-lines:])
        except OSError:
            return ""
