"""The admin whitelist (``-whiteList`` plus ``[guard] white_list`` of ``security.toml``).

One rule for HTTP writes and gRPC admin calls alike, as Go's ``Guard.IsWhiteListed``
(weed/security/guard.go): an empty list allows everyone; otherwise the caller's IP must be
listed, or fall inside a listed CIDR.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class WhiteList:
    __slots__ = ("_hosts", "_networks", "entries")

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.entries: tuple[str, ...] = tuple(e.strip() for e in entries if e.strip())
        self._hosts = frozenset(e for e in self.entries if "/" not in e)
        networks: list[_Network] = []
        for entry in self.entries:
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    continue  # Go skips a CIDR it cannot parse
        self._networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WhiteList) and other.entries == self.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __repr__(self) -> str:
        return f"WhiteList({list(self.entries)!r})"

    def __add__(self, extra: Iterable[str]) -> WhiteList:
        return WhiteList((*self.entries, *extra))

    def allows(self, host: str) -> bool:
        if not self.entries or host in self._hosts:
            return True
        if not self._networks:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)
