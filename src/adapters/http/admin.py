"""``/status`` and ``/healthz`` (volume_server_handlers_admin.go)."""

from __future__ import annotations

from ...core.disk_location import disk_status
from ...core.volume.volume import Volume
from .context import HttpContext
from .responses import HttpReply, HttpRequest, bare, write_json


def _replica_placement_json(volume: Volume) -> dict[str, int]:
    """``ReplicaPlacement`` with its ``omitempty`` JSON tags: node, rack, dc."""
    rp = volume.super_block.replica_placement
    out: dict[str, int] = {}
    if rp.same_rack_count:
        out["node"] = rp.same_rack_count
    if rp.diff_rack_count:
        out["rack"] = rp.diff_rack_count
    if rp.diff_data_center_count:
        out["dc"] = rp.diff_data_center_count
    return out


def volume_status(volume: Volume, disk_type: str) -> dict[str, object]:
    """One entry of ``Volumes`` in Go's field order."""
    ttl = volume.super_block.ttl
    remote = volume.info.files[0] if volume.info.files else None
    return {
        "Collection": volume.collection,
        "DiskType": disk_type,
        "RemoteStorageName": f"{remote.backend_type}.{remote.backend_id}" if remote else "",
        "ReplicaPlacement": _replica_placement_json(volume),
        "Ttl": {"Count": ttl.count, "Unit": ttl.unit},
        "Size": volume.content_size,
        "DeletedByteCount": volume.deleted_size,
        "ModifiedAtSecond": volume.last_modified_ts_seconds,
        "Id": volume.id,
        "DiskId": 0,
        "CompactRevision": volume.super_block.compaction_revision,
        "FileCount": volume.file_count,
        "DeleteCount": volume.deleted_count,
        "Version": volume.version,
        "ReadOnly": volume.is_read_only,
        "ReadOnlyCanDelete": volume.no_write_can_delete,
    }


def status(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    volumes: list[tuple[Volume, str]] = []
    disks = []
    ctx.store.follow()
    for location in ctx.store.locations:
        disks.append(disk_status(location.directory))
        volumes.extend((v, location.disk_type) for v in location.volumes.values())
    volumes.sort(key=lambda item: item[0].id)
    body = {
        "DiskStatuses": disks,
        "Version": ctx.version,
        "Volumes": [volume_status(v, disk_type) for v, disk_type in volumes] or None,
    }
    return write_json(200, body, request.pretty)


def healthz(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    if ctx.is_stopping or not ctx.is_heartbeating:
        return bare(503)
    return bare(200)
