"""``FetchAndWriteNeedle`` (volume_grpc_remote.go): read a byte range of an object in remote
storage and store it as a needle here and on the replicas the caller names (the filer's
remote-storage cache uses it)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from ...core.errors import VolumeError
from ...core.file_id import FileId
from ...core.needle.record import Needle
from ...core.ports import RemoteReaderFactory
from ...core.remote_endpoint import (
    BlockedEndpoint,
    validate_remote_endpoint,
    validate_replica_target,
)
from ..remote.s3 import S3RemoteReaderFactory
from ..replica_upload import ReplicationError, upload_needle
from .base import ServicerBase, fail
from .pb import volume_server_pb2 as pb

BUILTIN_REMOTE_READERS: dict[str, RemoteReaderFactory] = {"s3": S3RemoteReaderFactory()}
"""Remote storage types by ``RemoteConf.type`` when no plugin set is given; plugins add more
through the ``seaweed_remote_readers`` hook. Other types are refused as Go refuses unknown
ones (Azure and GCS are not built here yet)."""


def conf_fields(conf: Any) -> dict[str, object]:
    """Every field of a ``remote_pb.RemoteConf`` by its proto name (unset: zero value), the
    form :class:`~...core.ports.RemoteReaderFactory` takes, free of protobuf types."""
    return {field.name: getattr(conf, field.name) for field in conf.DESCRIPTOR.fields}


class RemoteFetchRpcs(ServicerBase):
    def FetchAndWriteNeedle(  # noqa: N802
        self, request: pb.FetchAndWriteNeedleRequest, context: grpc.ServicerContext
    ) -> pb.FetchAndWriteNeedleResponse:
        self.check_maintenance(context)
        volume = self.volume_or_fail(context, request.volume_id)
        conf = request.remote_conf
        trusted = self.config.allow_untrusted_remote_endpoints
        readers = BUILTIN_REMOTE_READERS if self.remote_readers is None else self.remote_readers
        factory = readers.get(conf.type)
        if factory is None:
            fail(context, f"get remote client: remote storage type {conf.type} not found")
        if not trusted and conf.s3_endpoint:  # none: the provider's public default
            try:
                validate_remote_endpoint(conf.s3_endpoint)
            except BlockedEndpoint as err:
                fail(context, f"reject remote endpoint: {err}")
        location = request.remote_location
        try:
            data = factory.create(conf_fields(conf)).read(
                location.bucket, location.path.lstrip("/"), request.offset, request.size
            )
        except Exception as err:  # noqa: BLE001 - any client error, as Go reports it
            fail(context, f"read from remote {location.name}{location.path}: {err}")
        if len(data) != request.size:
            fail(
                context,
                f"read from remote {location.name}{location.path}: got {len(data)} bytes, "
                f"want {request.size}",
            )
        if not trusted:
            for replica in request.replicas:
                try:
                    validate_replica_target(replica.url)
                except BlockedEndpoint as err:
                    fail(context, f"reject replica target: {err}")
        needle = Needle(id=request.needle_id, cookie=request.cookie, data=data)
        needle.update_checksum()
        needle.set_last_modified(int(time.time()))
        error = self._write_everywhere(volume.id, needle, request)
        if error:
            fail(context, error)
        return pb.FetchAndWriteNeedleResponse(e_tag=needle.etag)

    def _write_everywhere(
        self, volume_id: int, needle: Needle, request: pb.FetchAndWriteNeedleRequest
    ) -> str | None:
        """Write the needle here and push it to every replica at once; the first failure
        (the local one first), or ``None``."""
        fid = str(FileId(volume_id, request.needle_id, request.cookie))

        def replicate(url: str) -> None:
            upload_needle(url, f"http://{url}/{fid}?type=replicate", needle)

        with ThreadPoolExecutor(max_workers=max(1, len(request.replicas))) as pool:
            pushes = [pool.submit(replicate, r.url) for r in request.replicas]
            error = None
            try:
                self.store.write_needle(volume_id, needle, check_cookie=True)
            except (VolumeError, OSError) as err:
                error = f"local write needle {request.needle_id} size {request.size}: {err}"
            for push in pushes:
                try:
                    push.result()
                except (ReplicationError, OSError) as err:
                    error = error or (
                        f"remote write needle {request.needle_id} size {request.size}: {err}"
                    )
        return error
