"""What every HTTP handler needs: the volumes, the server's settings and the ports to the rest
of the cluster, all given at construction (by :mod:`...container`, or by a test)."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from typing import Protocol

from ...config import VolumeServerConfig
from ...core.ports import ImageTransformer, MasterDirectory, RemoteShards, VolumeRepository
from ...version import GO_VERSION, version_string
from .auth import JwtGuard
from .group_sync import GroupSync
from .images import PillowImages
from .throttle import InflightLimit, SharedLimits, parse_go_duration

__all__ = ["GO_VERSION", "HeartbeatState", "HttpContext", "version_string"]


class HeartbeatState(Protocol):
    """Whether the server heartbeats to the master (``/healthz``): the master client, or with
    ``-workers`` the flag the heartbeating process shares."""

    @property
    def is_heartbeating(self) -> bool: ...


@dataclass
class HttpContext:
    store: VolumeRepository
    config: VolumeServerConfig
    guard: JwtGuard = field(default_factory=JwtGuard)
    master: MasterDirectory | None = None
    """Volume lookups through the master (replication, proxied reads, chunk manifests);
    ``None``: no master to ask (tests), so writes are not replicated."""
    ec_remote: RemoteShards | None = None
    """EC shards on other servers; ``None``: read local shards only."""
    heartbeat_state: HeartbeatState | None = None
    """``None``: always healthy (tests)."""
    images: ImageTransformer = field(default_factory=PillowImages)
    group_sync: GroupSync = field(default_factory=GroupSync)
    shared_limits: InitVar[SharedLimits | None] = None
    """With ``-workers``: the in-flight byte limits count every process's bytes."""
    is_stopping: bool = False
    """Set once a graceful stop began: ``/healthz`` answers 503 from then on."""
    version: str = field(init=False)
    uploads: InflightLimit = field(init=False)
    downloads: InflightLimit = field(init=False)

    def __post_init__(self, shared_limits: SharedLimits | None) -> None:
        config = self.config
        self.version = version_string(config.offset_bytes)
        self.uploads = InflightLimit(
            config.concurrent_upload_limit_mb * 1024 * 1024,
            parse_go_duration(config.inflight_upload_data_timeout),
            shared=shared_limits.uploads if shared_limits else None,
            slot=shared_limits.slot if shared_limits else 0,
        )
        self.downloads = InflightLimit(
            config.concurrent_download_limit_mb * 1024 * 1024,
            parse_go_duration(config.inflight_download_data_timeout),
            shared=shared_limits.downloads if shared_limits else None,
            slot=shared_limits.slot if shared_limits else 0,
        )

    @property
    def is_heartbeating(self) -> bool:
        state = self.heartbeat_state
        return True if state is None else state.is_heartbeating

    @property
    def server_header(self) -> str:
        return f"SeaweedFS Volume {self.version}"

    @property
    def file_size_limit(self) -> int:
        return self.config.file_size_limit_mb * 1024 * 1024
