"""The default ``-ip``: this machine's detected address, chosen as Go's
``util.DetectedHostAddress`` chooses it.

Interfaces in index order, skipping those not up: the first non-loopback IPv4 address; else
the first non-loopback IPv6 address that is not link-local; else ``localhost``. Read from
Linux's ``/sys`` and ``/proc`` and one ioctl per interface; elsewhere the answer is
``localhost``.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

_IFF_UP = 0x1
_SIOCGIFADDR = 0x8915


@dataclass(frozen=True, slots=True)
class Interface:
    index: int
    name: str
    up: bool
    addresses: list[str] = field(default_factory=list)


def select_host_address(interfaces: Iterable[Interface]) -> str:
    """Go's choice among ``interfaces`` (see the module docstring)."""
    ordered = sorted((i for i in interfaces if i.up), key=lambda i: i.index)
    candidates = [[ipaddress.ip_address(a) for a in i.addresses] for i in ordered]
    for addresses in candidates:
        for address in addresses:
            if address.version == 4 and not address.is_loopback:
                return str(address)
    for addresses in candidates:
        for address in addresses:
            if address.version == 6 and not address.is_loopback and not address.is_link_local:
                return str(address)
    return "localhost"


def _ipv4_address(sock: socket.socket, name: str) -> str | None:
    request = struct.pack("256s", name.encode()[:15])
    try:
        answer = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)
    except OSError:  # no IPv4 address
        return None
    return socket.inet_ntoa(answer[20:24])


def _ipv6_addresses() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    with contextlib.suppress(OSError), open("/proc/net/if_inet6", encoding="ascii") as src:
        for line in src:
            fields = line.split()
            if len(fields) >= 6:
                address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
                found.setdefault(int(fields[1], 16), []).append(str(address))
    return found


def _is_up(name: str) -> bool:
    try:
        with open(f"/sys/class/net/{name}/flags", encoding="ascii") as src:
            return bool(int(src.read().strip(), 16) & _IFF_UP)
    except (OSError, ValueError):
        return False


def local_interfaces() -> list[Interface]:
    """This machine's interfaces with their addresses (IPv4 first)."""
    try:
        names = socket.if_nameindex()
    except OSError:
        return []
    ipv6 = _ipv6_addresses()
    interfaces = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for index, name in names:
            ipv4 = _ipv4_address(sock, name)
            addresses = ([ipv4] if ipv4 else []) + ipv6.get(index, [])
            interfaces.append(Interface(index, name, _is_up(name), addresses))
    return interfaces


def detected_host_address() -> str:
    """The address Go's volume server would register with by default."""
    return select_host_address(local_interfaces())
