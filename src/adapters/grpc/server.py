"""The ``volume_server_pb.VolumeServer`` gRPC service (volume_grpc_admin.go and friends).

Every RPC of the service is registered. Those not built yet answer ``UNIMPLEMENTED`` with a
message naming the RPC; the implemented ones return Go's errors as Go's gRPC server does:
a plain error becomes status ``UNKNOWN`` carrying the error text.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent import futures

import grpc

from ...config import VolumeServerConfig
from ...core.errors import VolumeError
from ...core.replica_placement import ReplicaPlacement
from ...core.store import Store
from ..http.admin import disk_status
from .pb import volume_server_pb2 as pb
from .pb import volume_server_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)


def _fail(context: grpc.ServicerContext, err: Exception) -> None:
    context.abort(grpc.StatusCode.UNKNOWN, str(err))


class VolumeServerServicer(pb_grpc.VolumeServerServicer):
    def __init__(self, store: Store, config: VolumeServerConfig, http_ctx: object) -> None:
        self.store = store
        self.config = config
        self.http_ctx = http_ctx
        self.maintenance = False

    def _check_maintenance(self, context: grpc.ServicerContext) -> None:
        if self.maintenance:
            context.abort(grpc.StatusCode.UNKNOWN, "volume server is in maintenance mode")

    def AllocateVolume(self, request, context):  # noqa: N802 - gRPC method names
        self._check_maintenance(context)
        try:
            self.store.add_volume(
                request.volume_id,
                collection=request.collection,
                replica_placement=request.replication,
                ttl=request.ttl,
                preallocate=request.preallocate,
                disk_type=request.disk_type,
            )
        except (VolumeError, ValueError, OSError) as err:
            log.error("assign volume %d: %s", request.volume_id, err)
            _fail(context, err)
        return pb.AllocateVolumeResponse()

    def VolumeMount(self, request, context):  # noqa: N802
        try:
            self.store.mount_volume(request.volume_id)
        except (VolumeError, OSError, ValueError) as err:
            _fail(context, err)
        return pb.VolumeMountResponse()

    def VolumeUnmount(self, request, context):  # noqa: N802
        try:
            self.store.unmount_volume(request.volume_id)
        except VolumeError as err:
            _fail(context, err)
        return pb.VolumeUnmountResponse()

    def VolumeDelete(self, request, context):  # noqa: N802
        try:
            self.store.delete_volume(request.volume_id, only_empty=request.only_empty)
        except VolumeError as err:
            _fail(context, err)
        return pb.VolumeDeleteResponse()

    def VolumeMarkReadonly(self, request, context):  # noqa: N802
        try:
            self.store.mark_volume_read_only(request.volume_id, persist=request.persist)
        except VolumeError as err:
            _fail(context, err)
        return pb.VolumeMarkReadonlyResponse()

    def VolumeMarkWritable(self, request, context):  # noqa: N802
        try:
            self.store.mark_volume_writable(request.volume_id)
        except VolumeError as err:
            _fail(context, err)
        return pb.VolumeMarkWritableResponse()

    def DeleteCollection(self, request, context):  # noqa: N802
        try:
            self.store.delete_collection(request.collection)
        except VolumeError as err:
            _fail(context, err)
        return pb.DeleteCollectionResponse()

    def VolumeStatus(self, request, context):  # noqa: N802
        volume = self.store.find_volume(request.volume_id)
        if volume is None:
            context.abort(grpc.StatusCode.UNKNOWN, f"not found volume id {request.volume_id}")
        return pb.VolumeStatusResponse(
            is_read_only=volume.is_read_only,
            volume_size=volume.dat_size(),
            file_count=volume.file_count,
            file_deleted_count=volume.deleted_count,
        )

    def VolumeServerStatus(self, request, context):  # noqa: N802
        response = pb.VolumeServerStatusResponse(
            version=getattr(self.http_ctx, "version", ""),
            data_center=self.config.data_center,
            rack=self.config.rack,
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

    def VolumeConfigure(self, request, context):  # noqa: N802
        """Errors go in the response's ``error`` field, as Go's handler does."""
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

    # --- vacuum (volume_grpc_vacuum.go) -------------------------------------------------------
    def VacuumVolumeCheck(self, request, context):  # noqa: N802
        try:
            ratio = self.store.check_compact_volume(request.volume_id)
        except VolumeError as err:
            _fail(context, err)
        return pb.VacuumVolumeCheckResponse(garbage_ratio=ratio)

    def VacuumVolumeCompact(self, request, context):  # noqa: N802
        self._check_maintenance(context)
        report_every = 128 * 1024 * 1024
        next_report = [report_every]
        progress_messages: list = []

        def progress(processed: int) -> bool:
            if processed > next_report[0]:
                progress_messages.append(
                    pb.VacuumVolumeCompactResponse(
                        processed_bytes=processed, load_avg_1m=_load_average()
                    )
                )
                next_report[0] = processed + report_every
            return context.is_active()

        try:
            self.store.compact_volume(
                request.volume_id,
                preallocate=request.preallocate,
                bytes_per_second=self.config.compaction_mbps * 1024 * 1024,
                progress=progress,
            )
        except VolumeError as err:
            _fail(context, err)
        yield from progress_messages

    def VacuumVolumeCommit(self, request, context):  # noqa: N802
        self._check_maintenance(context)
        try:
            read_only, size = self.store.commit_compact_volume(request.volume_id)
        except (VolumeError, OSError) as err:
            _fail(context, err)
        return pb.VacuumVolumeCommitResponse(is_read_only=read_only, volume_size=size)

    def VacuumVolumeCleanup(self, request, context):  # noqa: N802
        self._check_maintenance(context)
        try:
            self.store.cleanup_compact_volume(request.volume_id)
        except VolumeError as err:
            _fail(context, err)
        return pb.VacuumVolumeCleanupResponse()

    def Ping(self, request, context):  # noqa: N802
        now = time.time_ns()
        return pb.PingResponse(start_time_ns=now, remote_time_ns=now, stop_time_ns=time.time_ns())


def _load_average() -> float:
    """The 1-minute load average per CPU, as Go reports with compaction progress."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return 0.0


def _unimplemented(name: str):
    def handler(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{name} is not implemented yet")

    handler.__name__ = name
    return handler


def _fill_unimplemented() -> None:
    """Give every RPC we do not implement yet a handler that names it."""
    service = pb.DESCRIPTOR.services_by_name["VolumeServer"]
    for method in service.methods:
        if method.name not in VolumeServerServicer.__dict__:
            setattr(VolumeServerServicer, method.name, _unimplemented(method.name))


_fill_unimplemented()


def start_grpc_server(
    store: Store, config: VolumeServerConfig, http_ctx: object, bind: str
) -> grpc.Server:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        options=[
            ("grpc.max_send_message_length", 1 << 30),
            ("grpc.max_receive_message_length", 1 << 30),
        ],
    )
    pb_grpc.add_VolumeServerServicer_to_server(
        VolumeServerServicer(store, config, http_ctx), server
    )
    server.add_insecure_port(f"{bind}:{config.grpc_port}")
    server.start()
    return server
