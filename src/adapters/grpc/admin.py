"""Administration RPCs: state, volume lifecycle, batch delete, status and ping
(volume_grpc_admin.go, volume_grpc_batch_delete.go, volume_grpc_state.go)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import grpc

from ...core.crc import legacy_crc_value
from ...core.disk_location import disk_status
from ...core.erasure_coding.reader import read_ec_needle
from ...core.errors import VolumeError
from ...core.file_id import FileIdError, parse_needle_id_cookie, parse_needle_path, parse_volume_id
from ...core.goparse import GoNumError
from ...core.replica_placement import ReplicaPlacement
from ...core.server_state import StateVersionMismatch
from .base import ServicerBase, fail
from .pb import master_pb2, master_pb2_grpc
from .pb import volume_server_pb2 as pb
from .server_address import grpc_address, http_address

log = logging.getLogger(__name__)


class AdminRpcs(ServicerBase):
    def GetState(  # noqa: N802
        self, request: pb.GetStateRequest, context: grpc.ServicerContext
    ) -> pb.GetStateResponse:
        return pb.GetStateResponse(state=self.state_message())

    def SetState(  # noqa: N802
        self, request: pb.SetStateRequest, context: grpc.ServicerContext
    ) -> pb.SetStateResponse:
        if request.HasField("state") and self.state is not None:
            try:
                self.state.update(request.state.maintenance, request.state.version)
            except (StateVersionMismatch, OSError) as err:
                fail(context, err)
        return pb.SetStateResponse(state=self.state_message())

    def VolumeServerLeave(  # noqa: N802
        self, request: pb.VolumeServerLeaveRequest, context: grpc.ServicerContext
    ) -> pb.VolumeServerLeaveResponse:
        if self.master_client is not None:
            self.master_client.stop()
        return pb.VolumeServerLeaveResponse()

    def BatchDelete(  # noqa: N802
        self, request: pb.BatchDeleteRequest, context: grpc.ServicerContext
    ) -> pb.BatchDeleteResponse:
        """Per-file results with HTTP statuses; a cookie mismatch does not stop the batch."""
        self.check_maintenance(context)
        response = pb.BatchDeleteResponse()
        for fid in request.file_ids:
            response.results.append(self._delete_one(fid, request.skip_cookie_check))
        return response

    def _delete_one(self, fid: str, skip_cookie_check: bool) -> pb.DeleteResult:
        comma = fid.find(",")
        if comma <= 0:
            return pb.DeleteResult(file_id=fid, status=400, error="Wrong fid format.")
        try:
            volume_id = parse_volume_id(fid[:comma])
        except GoNumError:
            volume_id = 0
        try:
            if skip_cookie_check:
                needle_id, cookie = parse_needle_id_cookie(fid[comma + 1 :])[0], 0
            else:
                needle_id, cookie = parse_needle_path(fid[comma + 1 :])
        except FileIdError as err:
            return pb.DeleteResult(file_id=fid, status=400, error=str(err))
        if not skip_cookie_check:
            try:
                stored = self.store.read_needle(volume_id, needle_id)
            except Exception as err:  # noqa: BLE001 - every read failure is a 404 here
                return pb.DeleteResult(file_id=fid, status=404, error=str(err))
            if stored.cookie != cookie:
                return pb.DeleteResult(
                    file_id=fid, status=400, error="File Random Cookie does not match."
                )
            if stored.is_chunk_manifest:
                return pb.DeleteResult(
                    file_id=fid,
                    status=406,
                    error="ChunkManifest: not allowed in batch delete mode.",
                )
        try:
            size = self.store.delete_needle(volume_id, needle_id, cookie)
        except VolumeError as err:
            return pb.DeleteResult(file_id=fid, status=500, error=str(err))
        if size == 0:
            return pb.DeleteResult(file_id=fid, status=304)
        return pb.DeleteResult(file_id=fid, status=202, size=size)

    def VolumeNeedleStatus(  # noqa: N802
        self, request: pb.VolumeNeedleStatusRequest, context: grpc.ServicerContext
    ) -> pb.VolumeNeedleStatusResponse:
        volume = self.store.find_volume(request.volume_id)
        ec_volume = self.store.ec.find(request.volume_id) if volume is None else None
        try:
            if volume is not None:
                needle = volume.read_needle(request.needle_id)
            elif ec_volume is not None:
                needle = read_ec_needle(
                    ec_volume,
                    request.needle_id,
                    self.remote_shards,
                    self.store.ec.local_shards(ec_volume),
                )
            else:
                fail(context, f"volume not found {request.volume_id}")
        except (VolumeError, ValueError) as err:
            fail(context, err)
        return pb.VolumeNeedleStatusResponse(
            needle_id=needle.id,
            cookie=needle.cookie,
            size=needle.size,
            last_modified=needle.last_modified,
            crc=legacy_crc_value(needle.checksum),
            ttl=str(needle.ttl) if needle.has_ttl else "",
        )

    def VolumeConsolidateIndex(  # noqa: N802
        self, request: pb.VolumeConsolidateIndexRequest, context: grpc.ServicerContext
    ) -> pb.VolumeConsolidateIndexResponse:
        self.check_maintenance(context)
        try:
            self.store.consolidate_volume_index(request.volume_id)
        except (VolumeError, OSError) as err:
            fail(context, err)
        return pb.VolumeConsolidateIndexResponse()

    def AllocateVolume(  # noqa: N802 - gRPC method names
        self, request: pb.AllocateVolumeRequest, context: grpc.ServicerContext
    ) -> pb.AllocateVolumeResponse:
        self.check_maintenance(context)
        try:
            self.store.add_volume(
                request.volume_id,
                collection=request.collection,
                replica_placement=request.replication,
                ttl=request.ttl,
                preallocate=request.preallocate,
                disk_type=request.disk_type,
                version=request.version,
            )
        except (VolumeError, ValueError, OSError) as err:
            log.error("assign volume %d: %s", request.volume_id, err)
            fail(context, err)
        return pb.AllocateVolumeResponse()

    def VolumeMount(  # noqa: N802
        self, request: pb.VolumeMountRequest, context: grpc.ServicerContext
    ) -> pb.VolumeMountResponse:
        try:
            self.store.mount_volume(request.volume_id)
        except (VolumeError, OSError, ValueError) as err:
            fail(context, err)
        return pb.VolumeMountResponse()

    def VolumeUnmount(  # noqa: N802
        self, request: pb.VolumeUnmountRequest, context: grpc.ServicerContext
    ) -> pb.VolumeUnmountResponse:
        try:
            self.store.unmount_volume(request.volume_id)
        except VolumeError as err:
            fail(context, err)
        return pb.VolumeUnmountResponse()

    def VolumeDelete(  # noqa: N802
        self, request: pb.VolumeDeleteRequest, context: grpc.ServicerContext
    ) -> pb.VolumeDeleteResponse:
        self.check_maintenance(context)
        try:
            self.store.delete_volume(request.volume_id, only_empty=request.only_empty)
        except VolumeError as err:
            fail(context, err)
        return pb.VolumeDeleteResponse()

    def VolumeMarkReadonly(  # noqa: N802
        self, request: pb.VolumeMarkReadonlyRequest, context: grpc.ServicerContext
    ) -> pb.VolumeMarkReadonlyResponse:
        if self.store.find_volume(request.volume_id) is None:
            context.abort(grpc.StatusCode.UNKNOWN, f"volume {request.volume_id} not found")
        self.check_maintenance(context)
        try:
            self.store.mark_volume_read_only(
                request.volume_id, persist=request.persist, can_delete=request.can_delete
            )
        except VolumeError as err:
            fail(context, err)
        return pb.VolumeMarkReadonlyResponse()

    def VolumeMarkWritable(  # noqa: N802
        self, request: pb.VolumeMarkWritableRequest, context: grpc.ServicerContext
    ) -> pb.VolumeMarkWritableResponse:
        if self.store.find_volume(request.volume_id) is None:
            context.abort(grpc.StatusCode.UNKNOWN, f"volume {request.volume_id} not found")
        self.check_maintenance(context)
        try:
            self.store.mark_volume_writable(request.volume_id)
        except VolumeError as err:
            fail(context, err)
        return pb.VolumeMarkWritableResponse()

    def DeleteCollection(  # noqa: N802
        self, request: pb.DeleteCollectionRequest, context: grpc.ServicerContext
    ) -> pb.DeleteCollectionResponse:
        try:
            self.store.delete_collection(request.collection)
        except VolumeError as err:
            fail(context, err)
        return pb.DeleteCollectionResponse()

    def VolumeStatus(  # noqa: N802
        self, request: pb.VolumeStatusRequest, context: grpc.ServicerContext
    ) -> pb.VolumeStatusResponse:
        volume = self.volume_or_fail(context, request.volume_id)
        return pb.VolumeStatusResponse(
            is_read_only=volume.is_read_only,
            volume_size=volume.dat_size(),
            file_count=volume.file_count,
            file_deleted_count=volume.deleted_count,
        )

    def VolumeServerStatus(  # noqa: N802
        self, request: pb.VolumeServerStatusRequest, context: grpc.ServicerContext
    ) -> pb.VolumeServerStatusResponse:
        response = pb.VolumeServerStatusResponse(
            version=self.version,
            data_center=self.config.data_center,
            rack=self.config.rack,
            memory_status=_memory_status(),
            state=self.state_message(),
        )
        for location in self.store.locations:
            status = disk_status(location.directory)
            response.disk_statuses.add(
                dir=status["dir"],
                all=status["all"],
                used=status["used"],
                free=status["free"],
                percent_free=status["percent_free"],
                percent_used=status["percent_used"],
            )
        return response

    def VolumeConfigure(  # noqa: N802
        self, request: pb.VolumeConfigureRequest, context: grpc.ServicerContext
    ) -> pb.VolumeConfigureResponse:
        """Errors go in the response's ``error`` field, as Go's handler does."""
        self.check_maintenance(context)
        described = f'volume_id:{request.volume_id} replication:"{request.replication}"'
        try:
            ReplicaPlacement.parse(request.replication)
        except ValueError as err:
            return pb.VolumeConfigureResponse(
                error=f"volume configure replication {described}: {err}"
            )
        try:
            self.store.unmount_volume(request.volume_id)
        except VolumeError as err:
            return pb.VolumeConfigureResponse(error=f"volume configure unmount {described}: {err}")
        try:
            self.store.configure_volume(request.volume_id, request.replication)
        except VolumeError as err:
            message = f"volume configure {described}: {err}"
            try:
                self.store.mount_volume(request.volume_id)
            except VolumeError as mount_err:
                message += f". Also failed to restore mount: {mount_err}"
            return pb.VolumeConfigureResponse(error=message)
        try:
            self.store.mount_volume(request.volume_id)
        except VolumeError as err:
            return pb.VolumeConfigureResponse(error=f"volume configure mount {described}: {err}")
        return pb.VolumeConfigureResponse()

    def Ping(  # noqa: N802
        self, request: pb.PingRequest, context: grpc.ServicerContext
    ) -> pb.PingResponse:
        """Self-liveness with no target; a known master is pinged over gRPC; anything else
        is refused (volume_grpc_admin.go: ``isKnownPingTarget``)."""
        start = time.time_ns()
        if not request.target:
            return pb.PingResponse(start_time_ns=start, stop_time_ns=time.time_ns())
        if not self._is_known_master(request.target, request.target_type):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"unknown ping target {request.target} of type {request.target_type}",
            )
        try:
            with grpc.insecure_channel(grpc_address(request.target)) as channel:
                reply = master_pb2_grpc.SeaweedStub(channel).Ping(
                    master_pb2.PingRequest(), timeout=10
                )
        except grpc.RpcError as err:
            fail(context, Exception(f"ping master {request.target}: {err.details()}"))
        return pb.PingResponse(
            start_time_ns=start, remote_time_ns=reply.start_time_ns, stop_time_ns=time.time_ns()
        )

    def _is_known_master(self, target: str, target_type: str) -> bool:
        if target_type != "master":
            return False
        wanted = http_address(target)
        known = [m.strip() for m in self.config.master.split(",") if m.strip()]
        return any(http_address(m) == wanted for m in [*known, self.current_master] if m)


def _memory_status() -> pb.MemStatus:
    """Go's ``stats.MemStat``: machine totals from /proc/meminfo, the process's own RSS; the
    goroutine count becomes the thread count."""
    fields: dict[str, int] = {}
    with contextlib.suppress(OSError), open("/proc/meminfo") as src:
        for line in src:
            name, _, rest = line.partition(":")
            fields[name] = int(rest.split()[0]) * 1024
    rss = 0
    with contextlib.suppress(OSError), open("/proc/self/status") as src:
        for line in src:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    total, free = fields.get("MemTotal", 0), fields.get("MemAvailable", 0)
    return pb.MemStatus(
        goroutines=threading.active_count(),
        all=total,
        used=total - free,
        free=free,
        self=rss,
        heap=rss,
    )
