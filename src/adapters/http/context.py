"""What every HTTP handler needs: the store and the server's settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ...config import VolumeServerConfig
from ...core.ports import ImageTransformer
from ...core.store import Store
from .auth import JwtGuard
from .group_sync import GroupSync
from .images import PillowImages
from .throttle import InflightLimit, parse_go_duration

GO_VERSION = "4.48"


def version_string(offset_bytes: int) -> str:
    """Go's ``util.Version()``: the size limit of the offset width, then the release."""
    return f"{'8000GB' if offset_bytes == 5 else '30GB'} {GO_VERSION}"


@dataclass
class HttpContext:
    store: Store
    config: VolumeServerConfig
    is_stopping: bool = False
    heartbeat_state: object | None = None
    """Anything with an ``is_heartbeating`` flag (the master client); ``None`` in tests."""
    lookup_volume: Callable[[int], list[str]] | None = None
    """Volume id -> replica URLs, from the master (``None``: no master to ask)."""
    lookup_writable: Callable[[int], list[str]] | None = None
    """Volume id -> URLs of the replicas the master does not report read-only."""
    forget_lookup: Callable[[int], None] | None = None
    ec_remote: object | None = None
    """EC shards on other servers (``RemoteShards``); ``None``: read local shards only."""
    guard: JwtGuard = field(default_factory=JwtGuard)
    images: ImageTransformer = field(default_factory=PillowImages)
    group_sync: GroupSync = field(default_factory=GroupSync)
    version: str = field(init=False)
    uploads: InflightLimit = field(init=False)
    downloads: InflightLimit = field(init=False)

    def __post_init__(self) -> None:
        self.version = version_string(self.config.offset_bytes)
        config = self.config
        self.uploads = InflightLimit(
            config.concurrent_upload_limit_mb * 1024 * 1024,
            parse_go_duration(config.inflight_upload_data_timeout),
        )
        self.downloads = InflightLimit(
            config.concurrent_download_limit_mb * 1024 * 1024,
            parse_go_duration(config.inflight_download_data_timeout),
        )

    @property
    def is_heartbeating(self) -> bool:
        state = self.heartbeat_state
        return True if state is None else bool(getattr(state, "is_heartbeating", False))

    @property
    def server_header(self) -> str:
        return f"SeaweedFS Volume {self.version}"

    @property
    def file_size_limit(self) -> int:
        return self.config.file_size_limit_mb * 1024 * 1024
