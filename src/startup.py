"""Start-up checks: refuse a configuration that cannot work, in one line naming the flag.

Go refuses most of these too, but with a goroutine trace (a taken port, a missing ``-dir``) or
not at all (an unknown ``-index`` keeps it running). Here each check runs before any volume is
loaded, and :func:`seaweed_volume.cli.main` prints the :class:`StartupError` and exits 1.
"""

from __future__ import annotations

import os
import socket
import stat
import tomllib
from collections.abc import Iterable

from .config import VolumeServerConfig
from .core.tier import TierConfigError, load_tier_config


class StartupError(Exception):
    """Why the server will not start, naming the flag (``-port=8080: ...``)."""

    def __init__(self, flag: str, value: object, cause: str) -> None:
        super().__init__(f"-{flag}={value}: {cause}")
        self.flag = flag


def check_dirs(dirs: Iterable[str]) -> None:
    """Each ``-dir`` exists, is a directory and is writable (Go's ``TestFolderWritable``
    checks the owner write bit; the access check also catches read-only mounts)."""
    for directory in dirs:
        try:
            info = os.stat(directory)
        except FileNotFoundError:
            raise StartupError("dir", directory, "no such directory") from None
        except OSError as err:
            raise StartupError("dir", directory, err.strerror or str(err)) from None
        if not stat.S_ISDIR(info.st_mode):
            raise StartupError("dir", directory, "not a directory")
        if not info.st_mode & stat.S_IWUSR or not os.access(directory, os.W_OK | os.X_OK):
            raise StartupError("dir", directory, "directory is not writable")


def check_security_file(path: str) -> None:
    """An explicit ``-securityFile`` must be a readable TOML file (the default search path
    may find none)."""
    if not path:
        return
    try:
        with open(path, "rb") as src:
            tomllib.load(src)
    except OSError as err:
        raise StartupError("securityFile", path, f"cannot read: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise StartupError("securityFile", path, f"not valid TOML: {err}") from None


def check_index(kinds: Iterable[str], index: str) -> None:
    known = sorted(kinds)
    if index not in known:
        raise StartupError("index", index, f"unknown needle map kind (known: {', '.join(known)})")


def listening_ports(config: VolumeServerConfig) -> list[tuple[str, str, int]]:
    """(flag, host, port) of every port the server will listen on."""
    bind = config.ip_bind or config.ip
    ports = [("port", bind, config.port), ("port.grpc", bind, config.grpc_port)]
    if config.public_port != config.port:
        ports.append(("port.public", bind, config.public_port))
    if config.metrics_port:
        ports.append(("metricsPort", config.metrics_ip or bind, config.metrics_port))
    return ports


def check_ports(config: VolumeServerConfig) -> None:
    """Each port can be bound now (the servers bind them again a moment later; a port taken
    in between is reported by :func:`bind_error` the same way)."""
    seen: dict[int, str] = {}
    for flag, host, port in listening_ports(config):
        if port in seen:
            raise StartupError(flag, port, f"the same port as -{seen[port]}")
        seen[port] = flag
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        except socket.gaierror as err:
            address_flag = "metricsIp" if flag == "metricsPort" and config.metrics_ip else None
            address_flag = address_flag or ("ip.bind" if config.ip_bind else "ip")
            raise StartupError(address_flag, host, f"cannot resolve: {err.strerror}") from None
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
        except OSError as err:
            raise bind_error(flag, host, port, err) from None


def bind_error(flag: str, host: str, port: int, err: OSError) -> StartupError:
    cause = err.strerror or str(err)
    return StartupError(flag, port, f"cannot listen on {host}:{port}: {cause}")


def check_tier_config(path: str, tier_types: Iterable[str]) -> None:
    """``-tierConfig`` parses and names only registered backend types (the master's unknown
    types are skipped with a warning, as Go does; a file of ours is a mistake to report)."""
    if not path:
        return
    try:
        configs = load_tier_config(path)
    except TierConfigError as err:
        raise StartupError("tierConfig", path, str(err)) from None
    known = sorted(tier_types)
    for config in configs:
        if config.type not in known:
            raise StartupError(
                "tierConfig",
                path,
                f"backend storage type {config.type} not found (known: {', '.join(known)})",
            )


def preflight(
    config: VolumeServerConfig, kinds: Iterable[str], tier_types: Iterable[str] = ()
) -> None:
    """Every check, cheapest first."""
    check_index(kinds, config.index)
    check_tier_config(config.tier_config, tier_types)
    check_dirs(config.dirs)
    check_security_file(config.security_file)
    check_ports(config)
