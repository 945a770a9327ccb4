"""Start-up refusals: the console script exits non-zero within seconds with a line or two
naming the flag and the cause, never a traceback."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seaweed_volume.cli import build_config, parse_flags
from seaweed_volume.server import run_server
from seaweed_volume.startup import StartupError
from tests.support.go_cluster import free_port_pair
from tests.support.our_server import our_binary


def _refusal(args: list[str], data: Path | None = None) -> tuple[int, str]:
    """Run the console script to its exit; returns (exit code, stderr)."""
    port = free_port_pair()
    argv = [
        our_binary(),
        "-ip=127.0.0.1",
        f"-port={port}",
        "-master=127.0.0.1:1",
        "-preStopSeconds=0",
        *([f"-dir={data}"] if data is not None else []),
        *args,
    ]
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 15
    return result.returncode, result.stderr


def _assert_refused(code: int, stderr: str, *fragments: str) -> None:
    assert code != 0
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, stderr
    for fragment in fragments:
        assert fragment in stderr, stderr


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket listening on a free 127.0.0.1 port whose +10000 twin is free too."""
    port = free_port_pair()
    with socket.create_server(("127.0.0.1", port)) as held:
        yield held


def _taken(held: socket.socket) -> int:
    return held.getsockname()[1]


def test_http_port_taken(tmp_path: Path, listener: socket.socket) -> None:
    port = _taken(listener)
    code, stderr = _refusal([f"-port={port}", f"-port.grpc={port + 1}"], tmp_path)
    _assert_refused(code, stderr, f"-port={port}", "cannot listen on 127.0.0.1", "in use")


def test_grpc_port_taken(tmp_path: Path, listener: socket.socket) -> None:
    port = _taken(listener)
    code, stderr = _refusal([f"-port.grpc={port}"], tmp_path)
    _assert_refused(code, stderr, f"-port.grpc={port}", "in use")


def test_public_and_metrics_ports_taken(tmp_path: Path, listener: socket.socket) -> None:
    port = _taken(listener)
    code, stderr = _refusal([f"-port.public={port}"], tmp_path)
    _assert_refused(code, stderr, f"-port.public={port}")
    code, stderr = _refusal([f"-metricsPort={port}"], tmp_path)
    _assert_refused(code, stderr, f"-metricsPort={port}")


def test_dir_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    code, stderr = _refusal([], missing)
    _assert_refused(code, stderr, f"-dir={missing}", "no such directory")
    assert not missing.exists()  # not created behind the operator's back


def test_dir_is_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, stderr = _refusal([], a_file)
    _assert_refused(code, stderr, f"-dir={a_file}", "not a directory")


def test_dir_not_writable(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, stderr = _refusal([], locked)
    finally:
        locked.chmod(0o755)
    _assert_refused(code, stderr, f"-dir={locked}", "not writable")


def test_second_dir_checked_too(tmp_path: Path) -> None:
    good, missing = tmp_path / "good", tmp_path / "missing"
    good.mkdir()
    code, stderr = _refusal([f"-dir={good},{missing}", "-max=1,1"])
    _assert_refused(code, stderr, f"-dir={missing}")


def test_unknown_index(tmp_path: Path) -> None:
    code, stderr = _refusal(["-index=btree"], tmp_path)
    _assert_refused(code, stderr, "-index=btree", "unknown needle map kind", "memory")


def test_max_and_dir_disagree(tmp_path: Path) -> None:
    code, stderr = _refusal(["-max=1,2,3"], tmp_path)
    _assert_refused(code, stderr, "-max lists 3 counts for the 1 directories of -dir")


def test_disk_and_dir_disagree(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    code, stderr = _refusal([f"-dir={a},{b}", "-disk=hdd,ssd,hdd"])
    _assert_refused(code, stderr, "-disk lists 3 types")


def test_offset_bytes_out_of_range(tmp_path: Path) -> None:
    code, stderr = _refusal(["-offsetBytes=8"], tmp_path)
    _assert_refused(code, stderr, "-offsetBytes must be 4 or 5")


def test_security_file_missing(tmp_path: Path) -> None:
    missing = tmp_path / "security.toml"
    code, stderr = _refusal([f"-securityFile={missing}"], tmp_path)
    _assert_refused(code, stderr, f"-securityFile={missing}", "No such file")


def test_security_file_not_toml(tmp_path: Path) -> None:
    broken = tmp_path / "security.toml"
    broken.write_text("[jwt.signing\nkey = \n")
    code, stderr = _refusal([f"-securityFile={broken}"], tmp_path)
    _assert_refused(code, stderr, f"-securityFile={broken}", "not valid TOML")


def test_options_file_missing(tmp_path: Path) -> None:
    missing = tmp_path / "volume.options"
    code, stderr = _refusal([f"-options={missing}"], tmp_path)
    assert code == 2 and "Traceback" not in stderr
    assert stderr.splitlines()[0] == f"-options={missing}: cannot read: No such file or directory"


def test_port_taken_after_the_checks(tmp_path: Path, listener: socket.socket) -> None:
    """A port taken between the checks and the bind is reported the same way, and what
    had started (gRPC, the volumes) is stopped again."""
    port = _taken(listener)
    grpc_port = free_port_pair()
    config = build_config(
        parse_flags(
            [
                "-ip=127.0.0.1",
                f"-port={port}",
                f"-port.grpc={grpc_port}",
                f"-dir={tmp_path}",
                "-master=127.0.0.1:1",
            ]
        )
    )
    with pytest.raises(StartupError, match=f"-port={port}: cannot listen on 127.0.0.1:{port}"):
        asyncio.run(run_server(config))
    with socket.create_server(("127.0.0.1", grpc_port)):
        pass  # the gRPC port was released
    assert os.listdir(tmp_path)  # the store had opened (vol_dir.uuid)
