"""Erasure-coding RPCs (volume_grpc_erasure_coding.go). Generating shards is here; mounting,
reading, rebuilding, copying and decoding shards come next and answer ``UNIMPLEMENTED``."""

from __future__ import annotations

from ...core.erasure_coding.generate import generate_ec_shards
from ...core.errors import VolumeError
from .base import ServicerBase, fail
from .pb import volume_server_pb2 as pb


class ErasureCodingRpcs(ServicerBase):
    def VolumeEcShardsGenerate(self, request, context):  # noqa: N802
        self.check_maintenance(context)
        try:
            generate_ec_shards(self.store, request.volume_id, request.collection)
        except (VolumeError, OSError, ValueError) as err:
            fail(context, err)
        return pb.VolumeEcShardsGenerateResponse()
