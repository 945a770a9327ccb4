"""Go-style flags: both syntaxes, -options files, defaults, and clear errors."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from seaweed_volume.cli import FLAGS_BY_NAME, UsageError, build_config, parse_flags


def test_go_and_double_dash_syntax_agree() -> None:
    go_style = parse_flags(["-port=8081", "-dir", "/a,/b", "-max=3,4", "-images.fix.orientation"])
    dashes = parse_flags(
        ["--port", "8081", "--dir=/a,/b", "--max", "3,4", "--images.fix.orientation"]
    )
    assert go_style == dashes
    config = build_config(go_style)
    assert (config.port, config.grpc_port, config.public_port) == (8081, 18081, 8081)
    assert config.dirs == ["/a", "/b"] and config.max_volume_counts == [3, 4]


def test_defaults_match_go() -> None:
    config = build_config({})
    assert (config.port, config.grpc_port, config.read_mode) == (8080, 18080, "proxy")
    assert config.max_volume_counts == [8] and config.file_size_limit_mb == 256
    assert config.master == "localhost:9333" and config.pre_stop_seconds == 10


def test_upstream_harness_arguments_parse() -> None:
    """The flags test/volume_server passes to a non-Go volume server binary."""
    values = parse_flags(
        [
            "--port",
            "1",
            "--port.grpc",
            "2",
            "--port.public",
            "3",
            "--ip",
            "127.0.0.1",
            "--ip.bind",
            "127.0.0.1",
            "--dir",
            "/d",
            "--max",
            "16",
            "--master",
            "127.0.0.1:9",
            "--securityFile",
            "/s.toml",
            "--readMode",
            "proxy",
            "--concurrentUploadLimitMB",
            "8",
            "--concurrentDownloadLimitMB",
            "8",
            "--preStopSeconds",
            "0",
            "--inflightUploadDataTimeout",
            "2s",
            "--inflightDownloadDataTimeout",
            "2s",
        ]
    )
    config = build_config(values)
    assert (config.port, config.grpc_port, config.public_port) == (1, 2, 3)


def test_options_file(tmp_path) -> None:
    options = tmp_path / "volume.options"
    options.write_text("# comment\nport=9000\n-rack=r7\nmax=2\n")
    config = build_config(parse_flags([f"-options={options}", "-max=5"]))
    assert (config.port, config.rack) == (9000, "r7")
    assert config.max_volume_counts == [5]  # the command line wins


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-nosuchflag=1"], "flag provided but not defined: -nosuchflag"),
        (["-port=abc"], 'invalid value "abc" for flag -port: parse error'),
        (["-port"], "flag needs an argument: -port"),
        (["-readHeaderTimeout=soon"], 'invalid value "soon" for flag -readHeaderTimeout'),
    ],
)
def test_bad_flags(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_flags(argv)


def test_unsupported_flag_warns_once(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        build_config(parse_flags(["-cpuprofile=/tmp/x"]))
    assert [r.message for r in caplog.records] == [
        "flag -cpuprofile is accepted but not supported yet; ignoring it"
    ]


def test_every_go_flag_is_known() -> None:
    go_flags = {
        "compactionMBps",
        "concurrentDownloadLimitMB",
        "concurrentUploadLimitMB",
        "cpuprofile",
        "dataCenter",
        "debug",
        "debug.port",
        "dir",
        "dir.idx",
        "disk",
        "fileSizeLimitMB",
        "hasSlowRead",
        "id",
        "idleTimeout",
        "images.fix.orientation",
        "index",
        "index.leveldbTimeout",
        "inflightDownloadDataTimeout",
        "inflightUploadDataTimeout",
        "ip",
        "ip.bind",
        "maintenanceMBps",
        "master",
        "max",
        "memprofile",
        "metricsIp",
        "metricsPort",
        "minFreeSpace",
        "minFreeSpacePercent",
        "mserver",
        "options",
        "port",
        "port.grpc",
        "port.public",
        "pprof",
        "preStopSeconds",
        "publicUrl",
        "rack",
        "readBufferSizeMB",
        "readMode",
        "tags",
        "volume.allowUntrustedRemoteEndpoints",
        "whiteList",
    }
    assert go_flags <= set(FLAGS_BY_NAME)


def test_console_script_reports_usage_errors() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "seaweed_volume", "-bogus"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "flag provided but not defined: -bogus" in result.stderr


@pytest.mark.parametrize("spelling", ["-h", "-help", "--help", "--h"])
def test_help(spelling: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "seaweed_volume", spelling], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stderr == ""
    text = result.stdout
    assert text.startswith("Usage: seaweed-volume [flags]\n")
    assert "help requested" not in text
    assert "drop-in for the SeaweedFS volume server" in text
    assert "\nExample:\n  seaweed-volume -dir=" in text
    flags = {}
    for head, body in zip(text.splitlines(), text.splitlines()[1:], strict=False):
        if head.startswith("  -"):
            flags[head.split()[0][1:]] = body.strip()
    assert set(flags) == set(FLAGS_BY_NAME)
    marked = {name for name, body in flags.items() if body.startswith("[ours]")}
    assert marked == {"offsetBytes", "tierConfig", "workers"}
    assert flags["cpuprofile"].startswith("[ignored]")
    assert flags["port"].endswith("(default 8080)")
    assert flags["dir"].endswith('(default "/tmp")')
    assert "the first non-loopback IPv4 address of an up interface" in flags["ip"]


def test_request_bounds_flags() -> None:
    """The bounds of README "Limits", with their defaults (Go's 1 MiB head bound)."""
    defaults = build_config(parse_flags([]))
    assert (defaults.max_header_bytes, defaults.max_header_count, defaults.max_url_bytes) == (
        1 << 20,
        1000,
        1 << 20,
    )
    assert defaults.read_header_timeout == "30s"
    config = build_config(
        parse_flags(
            [
                "-maxHeaderBytes=4096",
                "-maxHeaderCount=10",
                "-maxUrlBytes=100",
                "-readHeaderTimeout=2s",
            ]
        )
    )
    assert (config.max_header_bytes, config.max_header_count, config.max_url_bytes) == (
        4096,
        10,
        100,
    )
    assert config.read_header_timeout == "2s"


def test_workers_default_to_one_per_core_up_to_the_cap(monkeypatch) -> None:
    """``-workers`` defaults to the cores this process may use (as Go uses them all), capped
    at MAX_DEFAULT_WORKERS; an explicit value is taken as given."""
    from seaweed_volume import cli

    for cores, expected in ((1, 1), (2, 2), (64, cli.MAX_DEFAULT_WORKERS)):
        monkeypatch.setattr(cli.os, "sched_getaffinity", lambda _pid, n=cores: set(range(n)))
        assert build_config({}).workers == expected
        assert f"(default {expected}: one per core" in cli.usage()
    assert build_config(parse_flags(["-workers=12"])).workers == 12
