"""The volume server's side of ``Seaweed.SendHeartbeat`` (volume_grpc_client_to_master.go).

One thread keeps a bidirectional stream to the current master: a full heartbeat first, then
delta heartbeats as volumes come and go, and a full one every pulse. It follows the leader the
master names, rotates through ``-master`` peers with backoff when a connection fails, and takes
the volume size limit from the responses.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from google.protobuf import unknown_fields

from ...config import VolumeServerConfig
from ...core import stats
from ...core.events import EcShardEvent, VolumeEvent, VolumeEventKind
from ...core.ports import VolumeRepository
from ...core.store_ec import EcShardReport
from .pb import master_pb2, master_pb2_grpc
from .server_address import grpc_address, http_address

if TYPE_CHECKING:
    from ...core.tier import TierRegistry

T = TypeVar("T")

log = logging.getLogger(__name__)

PULSE_SECONDS = 5.0
EC_FULL_EVERY_PULSES = 17
LOOKUP_CACHE_SECONDS = 10.0
_STOP = object()


DATA_SHARDS_PER_SLOT = 10
"""EC shards that take one volume slot (Go's ``erasure_coding.DataShardsCount``)."""


@dataclass
class VolumeReport:
    """What a full heartbeat says of the volumes and disks (``CollectHeartbeat``)."""

    volumes: list = field(default_factory=list)
    max_counts: dict[str, int] = field(default_factory=dict)
    disk_tags: list = field(default_factory=list)
    total_bytes: dict[str, int] = field(default_factory=dict)
    free_bytes: dict[str, int] = field(default_factory=dict)
    """Filesystem size and free space per disk type (summed over its disks, as Go)."""
    max_file_key: int = 0


def effective_max_count(store: VolumeRepository, disk_id: int) -> int:
    """A disk's volume slots as Go reports them: ``-max``, or when its free space is low the
    slots already used (local volumes plus one per 10 EC shards), never below 0
    (``CollectHeartbeat`` in weed/storage/store.go)."""
    location = store.locations[disk_id]
    if not location.is_disk_space_low:
        return max(location.max_volume_count, 0)
    local = sum(1 for volume in list(location.volumes.values()) if not volume.info.files)
    shards = sum(len(ec.shards) for ec in list(store.ec.by_disk[disk_id].values()))
    return local - (-shards // DATA_SHARDS_PER_SLOT)


def volume_information(store: VolumeRepository) -> VolumeReport:
    """Every volume as a ``VolumeInformationMessage``, max counts per disk type and a
    ``DiskTag`` per disk (its index, tags, type and slots: the master's per-disk view in
    ``volume.list`` comes from these), filesystem bytes per disk type, and the max file key."""
    report = VolumeReport()
    expired = store.expire_ttl_volumes()
    for disk_id, location in enumerate(store.locations):
        low_space = location.check_disk_space()
        max_count = effective_max_count(store, disk_id)
        report.max_counts[location.disk_type] = (
            report.max_counts.get(location.disk_type, 0) + max_count
        )
        kind = location.disk_type
        report.total_bytes[kind] = report.total_bytes.get(kind, 0) + location.total_bytes
        report.free_bytes[kind] = report.free_bytes.get(kind, 0) + location.free_bytes
        report.disk_tags.append(
            master_pb2.DiskTag(
                disk_id=disk_id,
                tags=list(location.tags),
                type=location.disk_type,
                max_volume_count=max_count,
            )
        )
        for volume in list(location.volumes.values()):
            report.max_file_key = max(report.max_file_key, volume.max_file_key)
            if volume.id in expired:
                continue
            remote = volume.info.files[0] if volume.info.files else None
            report.volumes.append(
                master_pb2.VolumeInformationMessage(
                    id=volume.id,
                    size=volume.dat_size(),
                    collection=volume.collection,
                    file_count=volume.file_count,
                    delete_count=volume.deleted_count,
                    deleted_byte_count=volume.deleted_size,
                    read_only=volume.is_read_only or low_space,
                    replica_placement=volume.super_block.replica_placement.to_byte(),
                    version=volume.version,
                    ttl=volume.super_block.ttl.to_uint32(),
                    compact_revision=volume.super_block.compaction_revision,
                    modified_at_second=volume.last_modified_ts_seconds,
                    disk_type=location.disk_type,
                    disk_id=disk_id,
                    remote_storage_name=(
                        f"{remote.backend_type}.{remote.backend_id}" if remote else ""
                    ),
                    remote_storage_key=remote.key if remote else "",
                )
            )
    return report


def load_storage_backends(
    tiers: TierRegistry, backends: Iterable[master_pb2.StorageBackend]
) -> None:
    """The remote tiers the master names (``LoadFromPbStorageBackends``)."""
    for backend in backends:
        try:
            tiers.configure(backend.type, backend.id, dict(backend.properties))
        except Exception as err:  # noqa: BLE001 - a bad backend must not stop the server
            log.error("storage backend %s.%s: %s", backend.type, backend.id, err)


def master_configuration(
    masters: list[str], timeout: float = 2.0
) -> master_pb2.GetMasterConfigurationResponse | None:
    """``GetMasterConfiguration`` of the first seed master that answers (``None``: none)."""
    for master in masters:
        try:
            with grpc.insecure_channel(grpc_address(master)) as channel:
                stub = master_pb2_grpc.SeaweedStub(channel)
                request = master_pb2.GetMasterConfigurationRequest()
                answer: master_pb2.GetMasterConfigurationResponse = stub.GetMasterConfiguration(
                    request, timeout=timeout
                )
                return answer
        except grpc.RpcError as err:
            log.info("checkWithMaster %s: %s", master, err.code())
    return None


def copy_preallocate_bytes(master: str) -> int:
    """What ``VolumeCopy`` reserves for a new ``.dat``: the volume size limit when ``master``
    says ``volumePreallocate``, else 0; a master that does not answer is logged and means 0
    (weed/server/volume_grpc_copy.go)."""
    answer = master_configuration([master]) if master else None
    if answer is None or not answer.volume_preallocate:
        return 0
    return answer.volume_size_limit_m_b * 1024 * 1024


def fetch_storage_backends(tiers: TierRegistry, masters: str) -> None:
    """Before volumes load: a tiered volume reads its ``.dat`` through a backend only the
    master can name (Go's ``checkWithMaster`` runs before its store loads)."""
    answer = master_configuration([m.strip() for m in masters.split(",") if m.strip()])
    if answer is not None:
        load_storage_backends(tiers, answer.storage_backends)


LOCATION_READ_ONLY_FIELD = 6
"""Go 4.48's masters add ``read_only`` (field 6) to ``Location``, which the upstream proto we
render from predates; it is read from the unknown fields so the contract stays upstream's."""


def _reported_read_only(location: master_pb2.Location) -> bool:
    fields = unknown_fields.UnknownFieldSet(location)
    return any(
        field.field_number == LOCATION_READ_ONLY_FIELD and field.wire_type == 0 and field.data
        for field in map(fields.__getitem__, range(len(fields)))
    )


def _ec_shard_message(
    shards: EcShardReport | EcShardEvent,
) -> master_pb2.VolumeEcShardInformationMessage:
    """One volume's EC shards on one disk; a report of the full EC heartbeat also carries
    the index's counts, a mount or unmount delta does not (as in Go)."""
    return master_pb2.VolumeEcShardInformationMessage(
        id=shards.volume_id,
        collection=shards.collection,
        ec_index_bits=shards.shard_bits,
        disk_type=shards.disk_type,
        expire_at_sec=shards.expire_at_sec,
        disk_id=shards.disk_id,
        shard_sizes=shards.shard_sizes,
        file_count=getattr(shards, "file_count", 0),
        delete_count=getattr(shards, "delete_count", 0),
        encode_ts_ns=shards.encode_ts_ns,
    )


class MasterClient:
    def __init__(
        self,
        store: VolumeRepository,
        config: VolumeServerConfig,
        heartbeat: bool = True,
        on_metrics_gateway: Callable[[str, int, threading.Event], None] | None = None,
    ) -> None:
        """``heartbeat=False``: lookups only (an HTTP worker of ``-workers``; another process
        heartbeats for the server). ``on_metrics_gateway``: called with the push gateway
        address, interval and a stop event, when the master names one."""
        self.store = store
        self.config = config
        self.seeds = [m.strip() for m in config.master.split(",") if m.strip()]
        self.current_master = self.seeds[0] if self.seeds else ""
        self.is_heartbeating = True
        self._outbox: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._channel: grpc.Channel | None = None
        self._lookups: dict[int, tuple[float, list[tuple[str, bool]]]] = {}
        self._ec_lookups: dict[int, tuple[float, dict[int, list[str]]]] = {}
        self.on_metrics_gateway = on_metrics_gateway
        if heartbeat:
            store.events.subscribe(self._on_volume_event)

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop heartbeating (shutdown or ``VolumeServerLeave``); /healthz turns 503."""
        self._stop.set()
        self.is_heartbeating = False
        self._outbox.put(_STOP)
        if self._channel is not None:
            self._channel.close()
        if self._thread is not None:
            self._thread.join(timeout)
        self.store.events.unsubscribe(self._on_volume_event)

    # --- messages ----------------------------------------------------------------------------
    def full_heartbeat(self) -> master_pb2.Heartbeat:
        report = volume_information(self.store)
        config = self.config
        return master_pb2.Heartbeat(
            ip=config.ip,
            port=config.port,
            grpc_port=config.grpc_port,
            public_url=config.public_url or f"{config.ip}:{config.public_port}",
            max_file_key=report.max_file_key,
            data_center=config.data_center,
            rack=config.rack,
            volumes=report.volumes,
            has_no_volumes=not report.volumes,
            max_volume_counts=report.max_counts,
            disk_tags=report.disk_tags,
            disk_total_bytes=report.total_bytes,
            disk_free_bytes=report.free_bytes,
            location_uuids=[location.uuid for location in self.store.locations],
            id=f"{config.ip}:{config.port}",
        )

    def ec_heartbeat(self) -> master_pb2.Heartbeat:
        """Every mounted EC shard, one message per volume and disk; nothing else (Go sends
        this after the first heartbeat and then every 17 pulses)."""
        shards = [_ec_shard_message(report) for report in self.store.ec.reports()]
        return master_pb2.Heartbeat(ec_shards=shards, has_no_ec_shards=not shards)

    def _delta(self, **change: Any) -> master_pb2.Heartbeat:
        """A delta heartbeat: the change, and who sends it (Go puts the address, data
        center and rack on every delta: volume_grpc_client_to_master.go)."""
        config = self.config
        return master_pb2.Heartbeat(
            ip=config.ip,
            port=config.port,
            data_center=config.data_center,
            rack=config.rack,
            **change,
        )

    def _on_ec_event(self, event: EcShardEvent) -> None:
        message = _ec_shard_message(event)
        if event.added:
            self._outbox.put(self._delta(new_ec_shards=[message]))
        else:
            self._outbox.put(self._delta(deleted_ec_shards=[message]))

    def _on_volume_event(self, event: VolumeEvent | EcShardEvent) -> None:
        if isinstance(event, EcShardEvent):
            self._on_ec_event(event)
            return
        if event.kind is VolumeEventKind.STATE_CHANGED:
            self._outbox.put(self.full_heartbeat)
            return
        short = master_pb2.VolumeShortInformationMessage(
            id=event.volume_id,
            collection=event.collection,
            replica_placement=event.replica_placement,
            version=event.version,
            ttl=event.ttl,
            disk_type=event.disk_type,
            disk_id=event.disk_id,
        )
        if event.kind is VolumeEventKind.ADDED:
            self._outbox.put(self._delta(new_volumes=[short]))
        else:
            self._outbox.put(self._delta(deleted_volumes=[short]))

    def _requests(self) -> Iterator[master_pb2.Heartbeat]:
        yield self.full_heartbeat()
        yield self.ec_heartbeat()
        pulses = 0
        while not self._stop.is_set():
            try:
                item = self._outbox.get(timeout=PULSE_SECONDS)
            except queue.Empty:
                yield self.full_heartbeat()
                pulses += 1
                if pulses % EC_FULL_EVERY_PULSES == 0:
                    yield self.ec_heartbeat()
                continue
            if item is _STOP:
                return
            yield item() if callable(item) else item

    # --- lookups -----------------------------------------------------------------------------
    def lookup_volume(self, volume_id: int) -> list[str]:
        """Replica URLs of a volume, asked of the current master (cached for 10 s)."""
        return [url for url, _ in self._locations(volume_id)]

    def lookup_writable(self, volume_id: int) -> list[str]:
        """Replica URLs the master does not report read-only."""
        return [url for url, read_only in self._locations(volume_id) if not read_only]

    def _cached(
        self,
        cache: dict[int, tuple[float, T]],
        volume_id: int,
        ask: Callable[[master_pb2_grpc.SeaweedStub], T],
    ) -> T:
        """``ask(stub)`` of the current master, remembered for 10 s per volume."""
        now = time.monotonic()
        cached = cache.get(volume_id)
        if cached is not None and now - cached[0] < LOOKUP_CACHE_SECONDS:
            return cached[1]
        master = self.current_master or (self.seeds[0] if self.seeds else "")
        with grpc.insecure_channel(grpc_address(master)) as channel:
            answer = ask(master_pb2_grpc.SeaweedStub(channel))
        cache[volume_id] = (now, answer)
        return answer

    def _locations(self, volume_id: int) -> list[tuple[str, bool]]:
        def ask(stub: master_pb2_grpc.SeaweedStub) -> list[tuple[str, bool]]:
            reply: master_pb2.LookupVolumeResponse = stub.LookupVolume(
                master_pb2.LookupVolumeRequest(volume_or_file_ids=[str(volume_id)]), timeout=10
            )
            return [
                (location.url, _reported_read_only(location))
                for found in reply.volume_id_locations
                if not found.error
                for location in found.locations
            ]

        return self._cached(self._lookups, volume_id, ask)

    def forget_lookup(self, volume_id: int) -> None:
        self._lookups.pop(volume_id, None)

    def lookup_ec_shards(self, volume_id: int) -> dict[int, list[str]]:
        """Shard id -> gRPC addresses of the servers holding it (``LookupEcVolume``), cached
        for 10 s."""

        def ask(stub: master_pb2_grpc.SeaweedStub) -> dict[int, list[str]]:
            reply: master_pb2.LookupEcVolumeResponse = stub.LookupEcVolume(
                master_pb2.LookupEcVolumeRequest(volume_id=volume_id), timeout=10
            )
            return {
                found.shard_id: [
                    f"{location.url.rpartition(':')[0]}:{location.grpc_port}"
                    if location.grpc_port
                    else grpc_address(location.url)
                    for location in found.locations
                ]
                for found in reply.shard_id_locations
            }

        return self._cached(self._ec_lookups, volume_id, ask)

    # --- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        self._check_with_master()
        backoff = 0.5
        index = 0
        while not self._stop.is_set():
            master = self.current_master or self.seeds[index % len(self.seeds)]
            try:
                new_leader = self._heartbeat_with(master)
                backoff = 0.5
            except grpc.RpcError as err:
                if self._stop.is_set():
                    break
                log.warning("heartbeat to %s failed: %s", master, err.details() or err.code())
                stats.MASTER_DISCONNECTIONS.inc(master)
                new_leader = ""
            if self._stop.is_set():
                break
            # Go's /healthz stays 200 while the master is unreachable: only stopping (shutdown
            # or VolumeServerLeave) ends "heartbeating".
            if new_leader:
                self.current_master = new_leader
                continue
            index += 1
            self.current_master = self.seeds[index % len(self.seeds)]
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 8.0)

    def _check_with_master(self) -> None:
        """Go's ``checkWithMaster``: ask a seed master for its configuration; a metrics push
        gateway named there gets our metrics every interval."""
        answer = master_configuration(self.seeds)
        if answer is None:
            return
        load_storage_backends(self.store.tiers, answer.storage_backends)
        if answer.metrics_address and self.on_metrics_gateway is not None:
            self.on_metrics_gateway(
                answer.metrics_address, answer.metrics_interval_seconds, self._stop
            )

    def _heartbeat_with(self, master: str) -> str:
        """Stream heartbeats to ``master``; returns a new leader's address if told to move."""
        # Drop deltas queued while disconnected: the first full heartbeat covers them.
        while not self._outbox.empty():
            item = self._outbox.get_nowait()
            if item is _STOP:
                return ""
        self._channel = grpc.insecure_channel(grpc_address(master))
        try:
            stub = master_pb2_grpc.SeaweedStub(self._channel)
            responses: Iterator[master_pb2.HeartbeatResponse] = stub.SendHeartbeat(self._requests())
            for response in responses:
                self.is_heartbeating = not self._stop.is_set()
                if response.volume_size_limit:
                    self.store.volume_size_limit = response.volume_size_limit
                if response.leader and http_address(response.leader) != http_address(master):
                    log.info("master %s names %s as leader", master, response.leader)
                    return response.leader
        finally:
            self._channel.close()
            self._channel = None
        return ""
