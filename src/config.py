"""The server's settings: one pydantic object, built by :mod:`.cli` from Go-style flags."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator, model_validator


class VolumeServerConfig(BaseModel):
    """Names follow ``weed volume`` flags; defaults are Go 4.48's."""

    ip: str = "127.0.0.1"
    ip_bind: str = ""
    port: int = 8080
    grpc_port: int = 0
    """``-port.grpc``; 0 means ``port + 10000`` as in Go."""
    public_port: int = 0
    public_url: str = ""
    dirs: list[str] = Field(default_factory=lambda: ["/tmp"])
    max_volume_counts: list[int] = Field(default_factory=lambda: [8])
    disk_types: list[str] = Field(default_factory=list)
    min_free_space: str = "1"
    index: str = "memory"
    """Needle-map kind: ``memory``, ``sqlite`` or one a plugin registers."""
    offset_bytes: int = 4
    """Offset width of new volumes: 4 as Go's default build, 5 as its ``5BytesOffset`` build."""
    master: str = "localhost:9333"
    data_center: str = ""
    rack: str = ""
    file_size_limit_mb: int = 256
    read_mode: str = "proxy"
    pre_stop_seconds: int = 10
    concurrent_upload_limit_mb: int = 0
    concurrent_download_limit_mb: int = 0
    inflight_upload_data_timeout: str = "1m0s"
    inflight_download_data_timeout: str = "1m0s"
    fix_jpg_orientation: bool = False
    tier_config: str = ""
    """``-tierConfig``: a file of ``[storage.backend.<type>.<id>]`` tables (ours)."""
    allow_untrusted_remote_endpoints: bool = False
    """``-volume.allowUntrustedRemoteEndpoints``: FetchAndWriteNeedle may reach any host."""
    """``-images.fix.orientation``: rotate uploaded JPEGs by their EXIF orientation."""
    workers: int = 1
    """``-workers``: processes serving HTTP (1: one process serves everything)."""
    white_list: list[str] = Field(default_factory=list)
    """``-whiteList``: addresses allowed to write and delete (empty: everyone)."""
    security_file: str = ""
    """``-securityFile``; empty means Go's search path for security.toml."""
    idle_timeout: int = 30
    max_header_bytes: int = 1 << 20
    """``-maxHeaderBytes``: request line and headers; more is answered 431 (Go's default)."""
    max_header_count: int = 1000
    """``-maxHeaderCount``: header lines per request; more is answered 431."""
    max_url_bytes: int = 1 << 20
    """``-maxUrlBytes``: the request target; longer is answered 414."""
    read_header_timeout: str = "30s"
    """``-readHeaderTimeout``: a request head must arrive within it, else the connection is
    closed (slow-header clients); ``0`` disables it."""
    metrics_ip: str = ""
    """``-metricsIp``; empty means ``-ip.bind``, else ``-ip``."""
    metrics_port: int = 0
    """``-metricsPort``: Prometheus ``/metrics``; 0 serves none."""
    compaction_mbps: int = 0
    """``-compactionMBps``: throttle for vacuum copies, 0 means unlimited."""
    maintenance_mbps: int = 0
    """``-maintenanceMBps``: throttle for volume copies a request sets no rate for."""

    @field_validator("offset_bytes")
    @classmethod
    def _width(cls, value: int) -> int:
        if value not in (4, 5):
            raise ValueError("-offsetBytes must be 4 or 5")
        return value

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: int) -> int:
        if value < 1:
            raise ValueError("-workers must be at least 1")
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> VolumeServerConfig:
        if not self.grpc_port:
            self.grpc_port = self.port + 10000
        if not self.public_port:
            self.public_port = self.port
        if len(self.max_volume_counts) == 1 and len(self.dirs) > 1:
            self.max_volume_counts = self.max_volume_counts * len(self.dirs)
        if len(self.max_volume_counts) != len(self.dirs):
            raise ValueError(
                f"-max lists {len(self.max_volume_counts)} counts"
                f" for the {len(self.dirs)} directories of -dir"
            )
        if len(self.disk_types) == 1 and len(self.dirs) > 1:
            self.disk_types = self.disk_types * len(self.dirs)
        if self.disk_types and len(self.disk_types) != len(self.dirs):
            raise ValueError(
                f"-disk lists {len(self.disk_types)} types"
                f" for the {len(self.dirs)} directories of -dir"
            )
        return self
