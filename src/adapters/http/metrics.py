"""Prometheus metrics of the volume server: ``/metrics`` on ``-metricsPort`` and the push to a
gateway the master names (``StartMetricsServer`` and ``LoopPushingMetric`` in
weed/stats/metrics.go).

Counters are kept where things happen (:mod:`...core.stats`); the gauges describing the store
(volumes per collection, read-only reasons, sizes, disk resources) are computed when scraped,
from the same numbers Go refreshes on every heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import platform
import resource
import threading
import time
import urllib.request
from collections.abc import Callable

from ...core import stats
from ...version import GO_VERSION
from .context import HttpContext

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

PROCESS = stats.Registry()
_CPU = PROCESS.counter(
    "process_cpu_seconds_total", "Total user and system CPU time spent in seconds."
)
_MAX_FDS = PROCESS.gauge("process_max_fds", "Maximum number of open file descriptors.")
_OPEN_FDS = PROCESS.gauge("process_open_fds", "Number of open file descriptors.", summed=True)
_RSS = PROCESS.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", summed=True)
_START = PROCESS.gauge(
    "process_start_time_seconds", "Start time of the process since unix epoch in seconds."
)
_VMS = PROCESS.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", summed=True)
_VMS_MAX = PROCESS.gauge(
    "process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes."
)


def _collect_process() -> None:
    """The standard ``process_*`` metrics from /proc, as Go's process collector reports them."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith(b"btime"))
        _OPEN_FDS.set(len(os.listdir("/proc/self/fd")))
    except (OSError, StopIteration, IndexError, ValueError):
        return
    ticks = os.sysconf("SC_CLK_TCK")
    # fields[0] is the state (field 3 of stat(5)): utime is field 14, so index 11.
    _CPU.values[()] = (int(fields[11]) + int(fields[12])) / ticks
    _START.set(boot + int(fields[19]) / ticks)
    _VMS.set(int(fields[20]))
    _RSS.set(int(fields[21]) * os.sysconf("SC_PAGE_SIZE"))
    _MAX_FDS.set(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    _VMS_MAX.set(float(2**64 - 1) if limit == resource.RLIM_INFINITY else limit)


PROCESS.collectors.append(_collect_process)


def install(ctx: HttpContext) -> None:
    """Set the start-up gauges and register the store's scrape-time gauges."""
    config = ctx.config
    size_limit = "8000GB" if config.offset_bytes == 5 else "30GB"
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    stats.BUILD_INFO.set(1, GO_VERSION, "python", size_limit, platform.system().lower(), machine)
    stats.START_TIME.set(int(time.time()))
    stats.DOWNLOAD_LIMIT.set(ctx.downloads.limit)
    stats.UPLOAD_LIMIT.set(ctx.uploads.limit)
    stats.REGISTRY.collectors[:] = [lambda: collect_store(ctx)]


def collect_store(ctx: HttpContext) -> None:
    """What Go's ``CollectHeartbeat`` and ``CheckDiskSpace`` publish, computed now."""
    volumes: dict[tuple[str, ...], float] = {}
    read_only: dict[tuple[str, ...], float] = {}
    sizes: dict[tuple[str, ...], float] = {}
    resources: dict[tuple[str, ...], float] = {}
    disk_errors: dict[tuple[str, ...], float] = {}
    max_volumes = 0
    ctx.store.follow()
    for location in ctx.store.locations:
        max_volumes += location.max_volume_count
        try:
            stat = os.statvfs(location.directory)
        except OSError:
            disk_errors[(location.directory, "error")] = 1
        else:
            disk_errors[(location.directory, "error")] = 0
            total, free = stat.f_blocks * stat.f_frsize, stat.f_bfree * stat.f_frsize
            for kind, value in (
                ("all", total),
                ("used", total - free),
                ("free", free),
                ("avail", stat.f_bavail * stat.f_frsize),
            ):
                resources[(location.directory, kind)] = value
        for volume in list(location.volumes.values()):
            collection = volume.collection
            volumes[(collection, "volume")] = volumes.get((collection, "volume"), 0) + 1
            for kind, value in (
                ("normal", volume.dat_size()),
                ("deleted_bytes", volume.deleted_size),
            ):
                sizes[(collection, kind)] = sizes.get((collection, kind), 0) + value
            reasons = (
                volume.is_read_only,
                volume.no_write_or_delete,
                volume.no_write_can_delete,
                volume.disk_space_low,
            )
            for kind, applies in zip(stats.READ_ONLY_TYPES, reasons, strict=True):
                read_only[(collection, kind)] = read_only.get((collection, kind), 0) + applies
    stats.VOLUMES.replace(volumes)
    stats.READ_ONLY_VOLUMES.replace(read_only)
    stats.DISK_SIZE.replace(sizes)
    stats.RESOURCE.replace(resources)
    stats.DISK_ERROR.replace(disk_errors)
    stats.MAX_VOLUMES.set(max_volumes)
    stats.IN_FLIGHT_DOWNLOAD.set(ctx.downloads.in_flight)
    stats.IN_FLIGHT_UPLOAD.set(ctx.uploads.in_flight)


PEER_SNAPSHOTS: list[Callable[[], list[tuple[dict, dict]]]] = []
"""With ``-workers``: how the process answering ``/metrics`` finds the other processes'
snapshots (:func:`snapshot`), to describe the whole server."""


def snapshot() -> tuple[dict, dict]:
    """This process's summed series (process and volume server families)."""
    return PROCESS.snapshot(), stats.REGISTRY.snapshot()


def exposition() -> str:
    peers = [peer for source in PEER_SNAPSHOTS for peer in source()]
    return PROCESS.render(p[0] for p in peers) + stats.REGISTRY.render(p[1] for p in peers)


class MetricsServer:
    """A minimal HTTP/1.1 listener: ``/metrics`` (any method, as promhttp), else Go's 404."""

    def __init__(self) -> None:
        self._server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                parts = request_line.split(" ")
                path = parts[1].split("?", 1)[0] if len(parts) > 1 else ""
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in header_lines if line)
                }
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)
                writer.write(await self._answer(path, headers))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ValueError,
        ):
            pass
        finally:
            writer.close()

    async def _answer(self, path: str, headers: dict[str, str]) -> bytes:
        extra = ""
        if path == "/metrics":
            body = (await asyncio.to_thread(exposition)).encode()
            content_type = CONTENT_TYPE
            if "gzip" in headers.get("accept-encoding", ""):
                body = gzip.compress(body)
                extra = "Content-Encoding: gzip\r\n"
            status = "200 OK"
        else:
            body, content_type = b"404 page not found\n", "text/plain; charset=utf-8"
            extra = "X-Content-Type-Options: nosniff\r\n"
            status = "404 Not Found"
        date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
        return (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra}"
            f"Date: {date}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body


def push_forever(address: str, interval: int, instance: str, stop: threading.Event) -> None:
    """``LoopPushingMetric``: PUT everything to a Prometheus push gateway every ``interval``
    seconds, grouped by job ``volumeServer`` and ``instance``. (Go pushes the protobuf
    format; the gateway takes this text format as well.)"""
    base = address if address.startswith(("http://", "https://")) else f"http://{address}"
    url = f"{base.rstrip('/')}/metrics/job/volumeServer/instance/{instance}"
    log.info("volumeServer server sends metrics to %s every %d seconds", address, interval)
    while not stop.is_set():
        request = urllib.request.Request(
            url, data=exposition().encode(), method="PUT", headers={"Content-Type": CONTENT_TYPE}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except OSError as err:
            log.info("could not push metrics to prometheus push gateway %s: %s", address, err)
        stop.wait(interval if interval > 0 else 15)
