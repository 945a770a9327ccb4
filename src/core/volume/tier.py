"""Moving a volume's ``.dat`` to a remote tier and back (volume_grpc_tier_upload.go,
volume_grpc_tier_download.go). The ``.idx`` stays local; the ``.vif`` records the remote
file, and while it does the volume reads its ``.dat`` from the tier and takes no writes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

from ..backend import DiskFile
from ..errors import VolumeError
from ..tier import RemoteDatFile, TierRegistry
from ..types import NEEDLE_PADDING_SIZE
from ..volume_info import RemoteFile
from .vacuum import _fsync_dir
from .volume import Volume

Progress = Callable[[int], None]


def _type_and_id(name: str) -> tuple[str, str]:
    backend_type, _, backend_id = name.partition(".")
    return backend_type, backend_id or "default"


def move_dat_to_remote(
    volume: Volume,
    tiers: TierRegistry,
    backend_name: str,
    keep_local: bool = False,
    progress: Progress | None = None,
) -> bool:
    """Upload ``.dat`` under a fresh key and read it from there; ``False`` when the volume
    is already remote (Go then quietly does nothing)."""
    if isinstance(volume.dat, RemoteDatFile):
        return False
    backend = tiers.get(backend_name)
    backend_type, backend_id = _type_and_id(backend_name)
    for remote in volume.info.files:
        if (remote.backend_type, remote.backend_id) == (backend_type, backend_id):
            raise VolumeError(f"destination {backend_name} already exists")
    dat_path = volume.file_name(".dat")
    modified = int(os.stat(dat_path).st_mtime)
    volume.sync()
    key = str(uuid.uuid4())
    try:
        size = backend.upload(dat_path, key, progress)
    except Exception as err:  # any client error: nothing changed locally
        raise VolumeError(f"backend {backend_name} copy file {dat_path}: {err}") from err
    with volume.write_lock():
        volume.info.files.append(
            RemoteFile(
                backend_type=backend_type,
                backend_id=backend_id,
                key=key,
                offset=0,
                file_size=size,
                modified_time=modified,
                extension=".dat",
            )
        )
        volume.save_info()
        local = volume.dat
        volume.dat = RemoteDatFile(tiers, backend_name, key, size)
        local.close()
        volume.announce_swap()
    if not keep_local:
        os.remove(dat_path)
    return True


def move_dat_from_remote(
    volume: Volume,
    tiers: TierRegistry,
    keep_remote: bool = False,
    progress: Progress | None = None,
) -> None:
    """Download ``.dat`` back, forget the remote file in ``.vif`` before deleting it (a crash
    in between leaks the remote object but never loses the volume), read locally again."""
    if not volume.info.files or not isinstance(volume.dat, RemoteDatFile):
        raise VolumeError(f"volume {volume.id} is already on local disk")
    remote = volume.info.files[0]
    name = f"{remote.backend_type}.{remote.backend_id}"
    try:
        backend = tiers.get(name)
    except VolumeError:
        raise VolumeError(
            f"remote storage {name} not found from supported: [{' '.join(sorted(tiers.backends))}]"
        ) from None
    dat_path = volume.file_name(".dat")
    try:
        backend.download(remote.key, dat_path, progress)
    except Exception as err:  # any client error
        raise VolumeError(f"backend {name} copy file {dat_path}: {err}") from err
    with open(dat_path, "rb+") as downloaded:
        os.fsync(downloaded.fileno())
    if remote.modified_time:
        os.utime(dat_path, (remote.modified_time, remote.modified_time))
    _fsync_dir(volume.directory)
    with volume.write_lock():
        volume.info.files = volume.info.files[1:]
        volume.save_info()
        volume.dat = DiskFile(dat_path, align=NEEDLE_PADDING_SIZE)
        volume.announce_swap()
    _fsync_dir(volume.directory)
    if not keep_remote:
        backend.delete(remote.key)
