"""A network namespace for tests whose Go servers must reach ours at a non-loopback address
(Go 4.48 refuses loopback peers as a copy or tail source; see FACTS). A veth pair joins it to
the host: ``10.77.N.1`` on the host end, ``10.77.N.2`` inside. Nothing binds to the machine's
own addresses, and everything is removed afterwards."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Namespace:
    name: str
    host_ip: str
    inner_ip: str

    @property
    def runner(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextlib.contextmanager
def namespace() -> Iterator[Namespace]:
    tag = os.getpid() % 250 + 1
    name, host_link, inner_link = f"swt{tag}", f"swh{tag}", f"swn{tag}"
    space = Namespace(name, f"10.77.{tag}.1", f"10.77.{tag}.2")
    _cleanup(space, host_link)
    try:
        _ip("netns", "add", name)
        _ip("link", "add", host_link, "type", "veth", "peer", "name", inner_link)
        _ip("link", "set", inner_link, "netns", name)
        _ip("addr", "add", f"{space.host_ip}/30", "dev", host_link)
        _ip("link", "set", host_link, "up")
        _ip("netns", "exec", name, "ip", "addr", "add", f"{space.inner_ip}/30", "dev", inner_link)
        _ip("netns", "exec", name, "ip", "link", "set", inner_link, "up")
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield space
    finally:
        _cleanup(space, host_link)


def _cleanup(space: Namespace, host_link: str) -> None:
    for args in (("link", "del", host_link), ("netns", "del", space.name)):
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip(*args)
