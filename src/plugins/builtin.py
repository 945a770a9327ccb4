"""The built-in image transformer and remote readers, registered through the public hooks."""

from __future__ import annotations

from ..adapters.http.images import PillowImages
from ..adapters.remote.s3 import S3RemoteReaderFactory
from ..core.ports import ImageTransformer, RemoteReaderFactory
from .hookspecs import hookimpl


@hookimpl
def seaweed_image_transformer() -> ImageTransformer:
    return PillowImages()


@hookimpl
def seaweed_remote_readers() -> list[RemoteReaderFactory]:
    return [S3RemoteReaderFactory()]
