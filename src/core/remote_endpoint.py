"""Which addresses a volume server may be asked to fetch from or push to (the endpoint
guard of volume_grpc_remote.go): a request naming an S3 endpoint must not make the server
reach its own loopback, instance metadata, link-local or (for remote storage) private
networks, unless the operator allows it (``-volume.allowUntrustedRemoteEndpoints``)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from .errors import VolumeError

_METADATA_HOSTS = {"metadata.google.internal", "metadata"}
_METADATA_IP = ipaddress.ip_address("169.254.169.254")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE = [
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
]


class BlockedEndpoint(VolumeError):
    pass


def check_address(endpoint: str, address: str, allow_private: bool) -> None:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip == _METADATA_IP:
        raise BlockedEndpoint(
            f'remote endpoint "{endpoint}" targets instance metadata service {ip}'
        )
    for blocked, kind in (
        (ip.is_loopback, "loopback"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_link_local, "link-local"),
    ):
        if blocked:
            raise BlockedEndpoint(f'remote endpoint "{endpoint}" resolves to {kind} address {ip}')
    if not allow_private:
        if any(ip in net for net in _PRIVATE if net.version == ip.version):
            raise BlockedEndpoint(f'remote endpoint "{endpoint}" resolves to private address {ip}')
        if ip.version == 4 and ip in _CGNAT:
            raise BlockedEndpoint(f'remote endpoint "{endpoint}" resolves to CGNAT address {ip}')


def _addresses(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except OSError as err:
        raise BlockedEndpoint(f'resolve remote endpoint host "{host}": {err}') from None


def validate_remote_endpoint(endpoint: str) -> None:
    """An http(s) URL whose host resolves only to public addresses."""
    if not endpoint.strip():
        raise BlockedEndpoint("remote endpoint is empty")
    parts = urlsplit(endpoint)
    if parts.scheme.lower() not in ("http", "https"):
        raise BlockedEndpoint(
            f'remote endpoint "{endpoint}" must use http or https, got "{parts.scheme}"'
        )
    host = parts.hostname or ""
    if not host:
        raise BlockedEndpoint(f'remote endpoint "{endpoint}" has no host')
    if host.lower() in _METADATA_HOSTS:
        raise BlockedEndpoint(f'remote endpoint "{endpoint}" targets instance metadata service')
    for address in _addresses(host):
        check_address(endpoint, address, allow_private=False)


def validate_replica_target(target: str) -> None:
    """A bare ``host:port`` that may be private (replicas live in the cluster) but never
    loopback, link-local or the metadata service."""
    if not target.strip():
        raise BlockedEndpoint("replica target is empty")
    if "://" in target or any(c in target for c in "/?#@\\"):
        raise BlockedEndpoint(f'replica target "{target}" must be a bare host:port')
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    if not host or not port:
        raise BlockedEndpoint(f'replica target "{target}" must be a bare host:port')
    if host.lower() in _METADATA_HOSTS:
        raise BlockedEndpoint(f'replica target "{target}" targets instance metadata service')
    for address in _addresses(host):
        check_address(target, address, allow_private=True)
