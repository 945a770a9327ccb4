"""Adapters: the outside world (HTTP, gRPC, remote storage) around the core."""
