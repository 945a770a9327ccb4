"""Another volume server reached over gRPC: the :class:`~...core.ports.VolumePeer`
port as ``VolumeCopy`` uses it."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from ...core.errors import VolumeError
from ...core.volume.copying import FileChunk, PeerVolumeFiles
from .pb import volume_server_pb2 as pb
from .pb import volume_server_pb2_grpc as pb_grpc
from .server_address import grpc_address

_OPTIONS = [("grpc.max_receive_message_length", 1 << 30)]


class GrpcVolumePeer:
    def __init__(self, address: str) -> None:
        self.address = address
        self._channel = grpc.insecure_channel(grpc_address(address), options=_OPTIONS)
        self._stub = pb_grpc.VolumeServerStub(self._channel)

    def volume_files(self, vid: int) -> PeerVolumeFiles:
        try:
            status = self._stub.ReadVolumeFileStatus(pb.ReadVolumeFileStatusRequest(volume_id=vid))
        except grpc.RpcError as err:
            raise VolumeError(_details(err)) from None
        return PeerVolumeFiles(
            collection=status.collection,
            dat_size=status.dat_file_size,
            idx_size=status.idx_file_size,
            dat_mtime_seconds=status.dat_file_timestamp_seconds,
            compaction_revision=status.compaction_revision,
            disk_type=status.disk_type,
            version=status.version,
            has_remote_dat=status.HasField("volume_info") and len(status.volume_info.files) > 0,
        )

    def copy_file(
        self,
        vid: int,
        collection: str,
        ext: str,
        compaction_revision: int,
        stop_offset: int,
        ignore_missing: bool,
        is_ec: bool = False,
    ) -> Iterator[FileChunk]:
        request = pb.CopyFileRequest(
            volume_id=vid,
            ext=ext,
            compaction_revision=compaction_revision,
            stop_offset=stop_offset,
            collection=collection,
            is_ec_volume=is_ec,
            ignore_source_file_not_found=ignore_missing,
        )
        try:
            for response in self._stub.CopyFile(request):
                yield FileChunk(response.file_content, response.modified_ts_ns)
        except grpc.RpcError as err:
            raise VolumeError(
                f"failed to copy volume {vid} {ext} file from {self.address}: {_details(err)}"
            ) from None

    def close(self) -> None:
        self._channel.close()


def _details(err: grpc.RpcError) -> str:
    return err.details() or err.code().name
