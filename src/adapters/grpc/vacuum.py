"""Vacuum RPCs: check, compact (streaming progress), commit, cleanup (volume_grpc_vacuum.go)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import grpc

from ...core.errors import VolumeError
from .base import ServicerBase, fail, stream_from_worker
from .pb import volume_server_pb2 as pb


class VacuumRpcs(ServicerBase):
    def VacuumVolumeCheck(  # noqa: N802
        self, request: pb.VacuumVolumeCheckRequest, context: grpc.ServicerContext
    ) -> pb.VacuumVolumeCheckResponse:
        try:
            ratio = self.store.check_compact_volume(request.volume_id)
        except VolumeError as err:
            fail(context, err)
        return pb.VacuumVolumeCheckResponse(garbage_ratio=ratio)

    def VacuumVolumeCompact(  # noqa: N802
        self, request: pb.VacuumVolumeCompactRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.VacuumVolumeCompactResponse]:
        """Streams a progress message every 128 MiB copied while the compaction runs."""
        self.check_maintenance(context)
        report_every = 128 * 1024 * 1024
        next_report = report_every

        def compact(send: Callable[[object], None]) -> None:
            def progress(processed: int) -> bool:
                nonlocal next_report
                if processed > next_report:
                    send(
                        pb.VacuumVolumeCompactResponse(
                            processed_bytes=processed, load_avg_1m=_load_average()
                        )
                    )
                    next_report = processed + report_every
                return context.is_active()

            self.store.compact_volume(
                request.volume_id,
                preallocate=request.preallocate,
                bytes_per_second=self.config.compaction_mbps * 1024 * 1024,
                progress=progress,
            )

        yield from stream_from_worker(
            context, f"compact-{request.volume_id}", compact, (VolumeError, OSError)
        )

    def VacuumVolumeCommit(  # noqa: N802
        self, request: pb.VacuumVolumeCommitRequest, context: grpc.ServicerContext
    ) -> pb.VacuumVolumeCommitResponse:
        self.check_maintenance(context)
        try:
            read_only, size = self.store.commit_compact_volume(request.volume_id)
        except (VolumeError, OSError) as err:
            fail(context, err)
        return pb.VacuumVolumeCommitResponse(is_read_only=read_only, volume_size=size)

    def VacuumVolumeCleanup(  # noqa: N802
        self, request: pb.VacuumVolumeCleanupRequest, context: grpc.ServicerContext
    ) -> pb.VacuumVolumeCleanupResponse:
        self.check_maintenance(context)
        try:
            self.store.cleanup_compact_volume(request.volume_id)
        except VolumeError as err:
            fail(context, err)
        return pb.VacuumVolumeCleanupResponse()


def _load_average() -> float:
    """The 1-minute load average per CPU, as Go reports with compaction progress."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return 0.0
