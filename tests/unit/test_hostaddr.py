"""The default ``-ip`` is the detected address, chosen as Go's ``DetectedHostAddress``.

Nothing here binds to or sends anything to that address: the choice is checked on made-up
interfaces and, for this machine, against what ``ip -j addr`` reports.
"""

from __future__ import annotations

import json
import subprocess

from seaweed_volume.cli import build_config, parse_flags, usage
from seaweed_volume.config import VolumeServerConfig
from seaweed_volume.hostaddr import (
    Interface,
    detected_host_address,
    local_interfaces,
    select_host_address,
)


def test_first_up_non_loopback_ipv4_by_index() -> None:
    interfaces = [
        Interface(3, "eth1", True, ["10.0.0.3"]),
        Interface(1, "lo", True, ["127.0.0.1", "::1"]),
        Interface(2, "eth0", False, ["10.0.0.2"]),  # down
        Interface(4, "eth2", True, ["fd00::4", "10.0.0.4"]),
    ]
    assert select_host_address(interfaces) == "10.0.0.3"


def test_ipv4_anywhere_beats_ipv6_first() -> None:
    interfaces = [
        Interface(2, "eth0", True, ["fd00::2"]),
        Interface(3, "eth1", True, ["10.0.0.3"]),
    ]
    assert select_host_address(interfaces) == "10.0.0.3"


def test_ipv6_fallback_skips_link_local() -> None:
    interfaces = [
        Interface(1, "lo", True, ["127.0.0.1", "::1"]),
        Interface(2, "eth0", True, ["fe80::1", "fd00::2"]),
    ]
    assert select_host_address(interfaces) == "fd00::2"


def test_localhost_when_nothing_fits() -> None:
    assert select_host_address([Interface(1, "lo", True, ["127.0.0.1", "::1"])]) == "localhost"
    assert select_host_address([]) == "localhost"


def test_this_machine_agrees_with_iproute2() -> None:
    report = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True).stdout)
    expected = [
        Interface(
            entry["ifindex"],
            entry["ifname"],
            "UP" in entry.get("flags", []),
            [a["local"] for a in entry.get("addr_info", []) if a["family"] in ("inet", "inet6")],
        )
        for entry in report
    ]
    ours = {i.name: i for i in local_interfaces()}
    for interface in expected:
        if interface.name not in ours:
            continue  # came or went between the two readings (a test's veth)
        found = ours[interface.name]
        assert (found.index, found.up) == (interface.index, interface.up)
        ipv4 = [a for a in interface.addresses if ":" not in a]
        assert [a for a in found.addresses if ":" not in a] == ipv4[:1]
        assert {a for a in found.addresses if ":" in a} == {
            a for a in interface.addresses if ":" in a
        }
    assert detected_host_address() == select_host_address(expected)


def test_default_ip_is_the_detected_address() -> None:
    assert build_config(parse_flags([])).ip == detected_host_address()
    assert build_config(parse_flags(["-ip=127.0.0.1"])).ip == "127.0.0.1"
    assert f'(default "{detected_host_address()}": the first non-loopback' in usage()
    # The library object keeps a loopback default for embedding and tests.
    assert VolumeServerConfig().ip == "127.0.0.1"
