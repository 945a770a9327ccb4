"""Scrub RPCs (volume_grpc_scrub.go): check volumes or EC volumes in place and report what is
broken; optionally make broken volumes read-only."""

from __future__ import annotations

import grpc

from ...core.erasure_coding.scrub import (
    checksum_scrub,
    scrub_ec_index,
    scrub_ec_needles,
)
from ...core.errors import VolumeError
from ...core.volume.scrub import scrub_index, scrub_volume
from .base import ServicerBase, fail
from .pb import volume_server_pb2 as pb

INDEX, FULL, LOCAL, CHECKSUM = (
    pb.VolumeScrubMode.INDEX,
    pb.VolumeScrubMode.FULL,
    pb.VolumeScrubMode.LOCAL,
    pb.VolumeScrubMode.CHECKSUM,
)


class ScrubRpcs(ServicerBase):
    def ScrubVolume(  # noqa: N802
        self, request: pb.ScrubVolumeRequest, context: grpc.ServicerContext
    ) -> pb.ScrubVolumeResponse:
        """INDEX checks ``.idx``; FULL (and LOCAL, the same for a volume) reads every record."""
        vids = list(request.volume_ids) or sorted(v.id for v in self.store.volumes())
        response = pb.ScrubVolumeResponse()
        broken = []
        for vid in vids:
            volume = self.store.find_volume(vid)
            if volume is None:
                fail(context, f"volume id {vid} not found")
            if request.mode == INDEX:
                files, errors = scrub_index(volume)
            elif request.mode in (FULL, LOCAL):
                files, errors = scrub_volume(volume)
            else:
                fail(context, f"unsupported volume scrub mode {request.mode}")
            response.total_volumes += 1
            response.total_files += files
            if errors:
                broken.append(vid)
                response.details.extend(errors)
        response.broken_volume_ids.extend(broken)
        if request.mark_broken_volumes_readonly:
            failures = []
            for vid in broken:
                try:
                    if self.maintenance:  # makeVolumeReadonly refuses, as every change does
                        raise VolumeError(
                            f"volume server {self.config.ip}:{self.config.port} is in "
                            "maintenance mode"
                        )
                    self.store.mark_volume_read_only(vid, persist=True)
                except VolumeError as err:
                    failures.append(str(err))
                    response.details.append(str(err))
                    continue
                response.details.append(f"volume {vid} is now read-only")
            if failures:
                fail(context, "\n".join(failures))
        return response

    def ScrubEcVolume(  # noqa: N802
        self, request: pb.ScrubEcVolumeRequest, context: grpc.ServicerContext
    ) -> pb.ScrubEcVolumeResponse:
        if request.force_deleted_needles_check and request.mode != FULL:
            fail(context, "deleted needle checks are only supported for FULL scrubs")
        vids = list(request.volume_ids) or sorted({ec.id for _, ec in self.store.ec.all()})
        response = pb.ScrubEcVolumeResponse()
        for vid in vids:
            ec = self.store.ec.find(vid)
            if ec is None:
                fail(context, f"EC volume id {vid} not found")
            shards: list[tuple[int, int]] = []
            if request.mode == INDEX:
                files, errors = scrub_ec_index(ec)
            elif request.mode == LOCAL:
                files, shards, errors = scrub_ec_needles(ec)
            elif request.mode == FULL:
                files, shards, errors = scrub_ec_needles(ec, self.remote_shards)
            elif request.mode == CHECKSUM:
                _, shards, errors = checksum_scrub(ec)  # blocks, not files
                files = 0
            else:
                fail(context, f"unsupported EC volume scrub mode {request.mode}")
            response.total_volumes += 1
            response.total_files += files
            if errors or shards:
                response.broken_volume_ids.append(vid)
                response.details.extend(errors)
                for shard_id, size in shards:
                    response.broken_shard_infos.add(
                        shard_id=shard_id, size=size, collection=ec.collection, volume_id=vid
                    )
        return response
