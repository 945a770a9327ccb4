"""Go's ``pb.ServerAddress``: how a server named by its HTTP address is reached over gRPC."""

from __future__ import annotations


def grpc_address(address: str) -> str:
    """``host:port`` -> ``host:port+10000``; ``host:port.grpcPort`` names the gRPC port."""
    host, _, port = address.rpartition(":")
    if "." in port:
        _, grpc_port = port.split(".", 1)
        return f"{host}:{grpc_port}"
    return f"{host}:{int(port) + 10000}"


def http_address(address: str) -> str:
    """``host:port.grpcPort`` -> ``host:port``."""
    host, _, port = address.rpartition(":")
    return f"{host}:{port.split('.', 1)[0]}"
