"""The ``s3`` tier backend (boto3), configured as Go's ``[storage.backend.s3.<id>]``:
``aws_access_key_id``, ``aws_secret_access_key``, ``region``, ``bucket``, ``endpoint``,
``storage_class`` (default ``STANDARD_IA``) and ``force_path_style`` (default true)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal

import boto3
from boto3.s3.transfer import TransferConfig
from botocore import UNSIGNED
from botocore.config import Config

from ...core.goparse import GoNumError, parse_bool

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _client(endpoint: str, region: str, key_id: str, secret: str, path_style: bool) -> S3Client:
    """An S3 client; without keys, the default credential chain (environment, profile,
    instance role) as Go's SDK uses it, and anonymous requests when that finds nothing."""
    style: Literal["path", "auto"] = "path" if path_style else "auto"
    config = Config(s3={"addressing_style": style})
    if not (key_id and secret) and boto3.Session().get_credentials() is None:
        config = Config(s3={"addressing_style": style}, signature_version=UNSIGNED)
    return boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=region or "us-east-1",
        aws_access_key_id=key_id or None,
        aws_secret_access_key=secret or None,
        config=config,
    )


class _Counter:
    """boto3's transfer callback (bytes per chunk) turned into running totals."""

    def __init__(self, progress: Callable[[int], None] | None) -> None:
        self.progress = progress
        self.done = 0

    def __call__(self, chunk: int) -> None:
        self.done += chunk
        if self.progress is not None:
            self.progress(self.done)


class S3TierBackend:
    def __init__(self, backend_id: str, properties: dict[str, str]) -> None:
        self.name = f"s3.{backend_id}"
        self.bucket = properties.get("bucket", "")
        self.storage_class = properties.get("storage_class") or "STANDARD_IA"
        try:
            path_style = parse_bool(properties.get("force_path_style") or "true")
        except GoNumError:
            path_style = True
        self.client = _client(
            properties.get("endpoint", ""),
            properties.get("region", ""),
            properties.get("aws_access_key_id", ""),
            properties.get("aws_secret_access_key", ""),
            path_style,
        )
        self._transfer = TransferConfig(multipart_chunksize=64 * 1024 * 1024)

    def upload(
        self, local_path: str, key: str, progress: Callable[[int], None] | None = None
    ) -> int:
        count = _Counter(progress)
        self.client.upload_file(
            local_path,
            self.bucket,
            key,
            ExtraArgs={"StorageClass": self.storage_class},
            Callback=count,
            Config=self._transfer,
        )
        return count.done

    def download(
        self, key: str, local_path: str, progress: Callable[[int], None] | None = None
    ) -> int:
        count = _Counter(progress)
        self.client.download_file(
            self.bucket, key, local_path, Callback=count, Config=self._transfer
        )
        return count.done

    def read_at(self, key: str, offset: int, length: int) -> bytes:
        reply = self.client.get_object(
            Bucket=self.bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}"
        )
        return reply["Body"].read()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)


class S3TierBackendFactory:
    type = "s3"

    def create(self, backend_id: str, properties: dict[str, str]) -> S3TierBackend:
        return S3TierBackend(backend_id, properties)


class S3RemoteReader:
    """Ranged ``GetObject`` reads over one S3 client (``RemoteReader``)."""

    def __init__(self, client: S3Client) -> None:
        self.client = client

    def read(self, bucket: str, key: str, offset: int, size: int) -> bytes:
        reply = self.client.get_object(
            Bucket=bucket, Key=key, Range=f"bytes={offset}-{offset + size - 1}"
        )
        return reply["Body"].read()


class S3RemoteReaderFactory:
    """Readers for a ``remote_pb.RemoteConf`` of type ``s3`` (``remote_storage/s3``:
    path-style unless the configuration says otherwise)."""

    type = "s3"

    def create(self, conf: Mapping[str, object]) -> S3RemoteReader:
        return S3RemoteReader(
            _client(
                str(conf.get("s3_endpoint") or ""),
                str(conf.get("s3_region") or ""),
                str(conf.get("s3_access_key") or ""),
                str(conf.get("s3_secret_key") or ""),
                bool(conf.get("s3_force_path_style")),
            )
        )
