"""Remote tier RPCs (volume_grpc_tier_upload.go, volume_grpc_tier_download.go): move a
volume's ``.dat`` to a backend the master named, or back, reporting progress at most once a
second."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import grpc

from ...core.errors import VolumeError
from ...core.volume.tier import move_dat_from_remote, move_dat_to_remote
from ...core.volume.volume import Volume
from .base import ServicerBase, fail, stream_from_worker
from .pb import volume_server_pb2 as pb


def _reporter(
    send: Callable[[object], None], total: int, message: Callable[..., object]
) -> Callable[[int], None]:
    last = time.monotonic()

    def progress(done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < 1.0:
            return
        last = now
        send(message(processed=done, processedPercentage=100.0 * done / total if total else 0))

    return progress


class TierRpcs(ServicerBase):
    def _tiered_volume(
        self,
        context: grpc.ServicerContext,
        request: pb.VolumeTierMoveDatToRemoteRequest | pb.VolumeTierMoveDatFromRemoteRequest,
    ) -> Volume:
        volume = self.volume_or_fail(context, request.volume_id, "volume {vid} not found")
        if volume.collection != request.collection:
            fail(
                context,
                f"existing collection:{volume.collection} unexpected input: {request.collection}",
            )
        return volume

    def VolumeTierMoveDatToRemote(  # noqa: N802
        self, request: pb.VolumeTierMoveDatToRemoteRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.VolumeTierMoveDatToRemoteResponse]:
        self.check_maintenance(context)
        volume = self._tiered_volume(context, request)

        def move(send: Callable[[object], None]) -> None:
            total = volume.dat_stat()[0]
            progress = _reporter(send, total, pb.VolumeTierMoveDatToRemoteResponse)
            move_dat_to_remote(
                volume,
                self.store.tiers,
                request.destination_backend_name,
                keep_local=request.keep_local_dat_file,
                progress=progress,
            )

        yield from stream_from_worker(
            context, f"tier-up-{request.volume_id}", move, (VolumeError, OSError)
        )

    def VolumeTierMoveDatFromRemote(  # noqa: N802
        self, request: pb.VolumeTierMoveDatFromRemoteRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.VolumeTierMoveDatFromRemoteResponse]:
        volume = self._tiered_volume(context, request)

        def move(send: Callable[[object], None]) -> None:
            total = volume.info.files[0].file_size if volume.info.files else 0
            progress = _reporter(send, total, pb.VolumeTierMoveDatFromRemoteResponse)
            move_dat_from_remote(
                volume,
                self.store.tiers,
                keep_remote=request.keep_remote_dat_file,
                progress=progress,
            )

        yield from stream_from_worker(
            context, f"tier-down-{request.volume_id}", move, (VolumeError, OSError)
        )
