"""The VolumeServer gRPC service over a real loopback channel."""

from __future__ import annotations

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import remote_pb2
from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from seaweed_volume.adapters.grpc.server import VolumeServerServicer, start_grpc_server
from seaweed_volume.config import VolumeServerConfig
from seaweed_volume.container import build_container
from seaweed_volume.core.file_id import FileId
from seaweed_volume.core.needle.record import Needle
from tests.support.go_cluster import free_port_pair


@pytest.fixture
def rpc(tmp_path):
    port = free_port_pair()
    config = VolumeServerConfig(dirs=[str(tmp_path)], max_volume_counts=[4], port=port)
    store = build_container(config).store()
    server = start_grpc_server(VolumeServerServicer(store, config), "127.0.0.1", config.grpc_port)
    channel = grpc.insecure_channel(f"127.0.0.1:{config.grpc_port}")
    stub = pb_grpc.VolumeServerStub(channel)
    stub.port = port  # type: ignore[attr-defined]
    yield stub, store
    channel.close()
    server.stop(None).wait()
    store.close()


def put(store, vid: int, needle_id: int, data: bytes, cookie: int = 0x1234) -> str:
    needle = Needle(cookie=cookie, id=needle_id, data=data)
    needle.set_last_modified(1_700_000_000)
    needle.update_checksum()
    store.write_needle(vid, needle)
    return str(FileId(vid, needle_id, cookie))


def test_allocate_status_and_errors(rpc) -> None:
    stub, store = rpc
    stub.AllocateVolume(
        pb.AllocateVolumeRequest(version=3, volume_id=5, collection="c", replication="010")
    )
    assert store.find_volume(5).collection == "c"
    with pytest.raises(grpc.RpcError) as err:
        stub.AllocateVolume(pb.AllocateVolumeRequest(volume_id=5))  # the duplicate wins
    assert err.value.code() == grpc.StatusCode.UNKNOWN
    assert err.value.details() == "Volume Id 5 already exists!"
    with pytest.raises(grpc.RpcError, match="volume super block version 0 is not supported"):
        stub.AllocateVolume(pb.AllocateVolumeRequest(volume_id=15))
    put(store, 5, 1, b"hello")
    status = stub.VolumeStatus(pb.VolumeStatusRequest(volume_id=5))
    assert (status.file_count, status.is_read_only) == (1, False)
    assert status.volume_size == store.find_volume(5).dat_size()
    sync = stub.VolumeSyncStatus(pb.VolumeSyncStatusRequest(volume_id=5))
    assert (sync.replication, sync.collection, sync.version) == ("010", "c", 3)
    files = stub.ReadVolumeFileStatus(pb.ReadVolumeFileStatusRequest(volume_id=5))
    assert files.file_count == 1 and files.volume_info.version == 3
    with pytest.raises(grpc.RpcError) as err:
        stub.VolumeStatus(pb.VolumeStatusRequest(volume_id=99))
    assert "not found volume id 99" in err.value.details()


def test_mark_readonly_writable_and_delete(rpc) -> None:
    stub, store = rpc
    stub.AllocateVolume(pb.AllocateVolumeRequest(version=3, volume_id=1))
    stub.VolumeMarkReadonly(pb.VolumeMarkReadonlyRequest(volume_id=1, persist=True))
    assert store.find_volume(1).is_read_only and store.find_volume(1).info.read_only
    stub.VolumeMarkWritable(pb.VolumeMarkWritableRequest(volume_id=1))
    assert not store.find_volume(1).is_read_only
    put(store, 1, 1, b"x")
    with pytest.raises(grpc.RpcError, match="volume not empty"):
        stub.VolumeDelete(pb.VolumeDeleteRequest(volume_id=1, only_empty=True))
    stub.VolumeUnmount(pb.VolumeUnmountRequest(volume_id=1))
    assert store.find_volume(1) is None
    stub.VolumeMount(pb.VolumeMountRequest(volume_id=1))
    stub.VolumeDelete(pb.VolumeDeleteRequest(volume_id=1))
    assert store.find_volume(1) is None


def test_batch_delete_goes_on_past_a_cookie_mismatch(rpc) -> None:
    stub, store = rpc
    stub.AllocateVolume(pb.AllocateVolumeRequest(version=3, volume_id=2))
    good = put(store, 2, 1, b"one")
    wrong_cookie = str(FileId(2, 2, 0x9999))
    put(store, 2, 2, b"two")
    third = put(store, 2, 3, b"three")
    reply = stub.BatchDelete(
        pb.BatchDeleteRequest(file_ids=[good, wrong_cookie, "bad", "2,0100000000", third])
    )
    statuses = [(r.status, r.error) for r in reply.results]
    assert statuses[0][0] == 202 and reply.results[0].size > 0
    assert statuses[1] == (400, "File Random Cookie does not match.")
    assert statuses[2] == (400, "Wrong fid format.")
    assert statuses[3][0] == 404
    assert statuses[4][0] == 202
    skip = stub.BatchDelete(
        pb.BatchDeleteRequest(file_ids=[str(FileId(2, 2, 0))], skip_cookie_check=True)
    )
    assert skip.results[0].status == 202
    again = stub.BatchDelete(pb.BatchDeleteRequest(file_ids=[good], skip_cookie_check=True))
    assert again.results[0].status == 304


def test_maintenance_mode_refuses_changes(rpc) -> None:
    stub, _ = rpc
    state = stub.GetState(pb.GetStateRequest()).state
    assert (state.maintenance, state.version) == (False, 0)
    updated = stub.SetState(
        pb.SetStateRequest(state=pb.VolumeServerState(maintenance=True, version=0))
    )
    assert (updated.state.maintenance, updated.state.version) == (True, 1)
    with pytest.raises(grpc.RpcError, match="maintenance mode"):
        stub.AllocateVolume(pb.AllocateVolumeRequest(version=3, volume_id=3))
    with pytest.raises(grpc.RpcError, match="version mismatch"):
        stub.SetState(pb.SetStateRequest(state=pb.VolumeServerState(version=0)))
    stub.SetState(pb.SetStateRequest(state=pb.VolumeServerState(maintenance=False, version=1)))
    stub.AllocateVolume(pb.AllocateVolumeRequest(version=3, volume_id=3))


def test_vacuum_rpcs(rpc) -> None:
    stub, store = rpc
    stub.AllocateVolume(pb.AllocateVolumeRequest(version=3, volume_id=4))
    for i in range(1, 11):
        put(store, 4, i, bytes([i]) * 300)
    for i in range(1, 8):
        store.delete_needle(4, i, 0x1234)
    ratio = stub.VacuumVolumeCheck(pb.VacuumVolumeCheckRequest(volume_id=4)).garbage_ratio
    assert ratio > 0.5
    list(stub.VacuumVolumeCompact(pb.VacuumVolumeCompactRequest(volume_id=4)))
    commit = stub.VacuumVolumeCommit(pb.VacuumVolumeCommitRequest(volume_id=4))
    assert not commit.is_read_only and commit.volume_size == store.find_volume(4).dat_size()
    assert store.read_needle(4, 9).data == bytes([9]) * 300
    stub.VacuumVolumeCleanup(pb.VacuumVolumeCleanupRequest(volume_id=4))


def test_needle_status_configure_and_remote_fetch_refusals(rpc) -> None:
    stub, store = rpc
    stub.AllocateVolume(pb.AllocateVolumeRequest(version=3, volume_id=6))
    put(store, 6, 7, b"needle", cookie=0xABCD)
    status = stub.VolumeNeedleStatus(pb.VolumeNeedleStatusRequest(volume_id=6, needle_id=7))
    assert (status.needle_id, status.cookie) == (7, 0xABCD)
    bad = stub.VolumeConfigure(pb.VolumeConfigureRequest(volume_id=6, replication="300"))
    assert bad.error.startswith("volume configure replication")
    ok = stub.VolumeConfigure(pb.VolumeConfigureRequest(volume_id=6, replication="001"))
    assert ok.error == "" and str(store.find_volume(6).super_block.replica_placement) == "001"
    with pytest.raises(grpc.RpcError, match="get remote client: remote storage type x not found"):
        stub.FetchAndWriteNeedle(
            pb.FetchAndWriteNeedleRequest(volume_id=6, remote_conf=remote_pb2.RemoteConf(type="x"))
        )
    with pytest.raises(grpc.RpcError, match="reject remote endpoint: .*loopback"):
        stub.FetchAndWriteNeedle(
            pb.FetchAndWriteNeedleRequest(
                volume_id=6,
                remote_conf=remote_pb2.RemoteConf(type="s3", s3_endpoint="http://127.0.0.1:1"),
            )
        )
    assert stub.Ping(pb.PingRequest()).start_time_ns > 0
    with pytest.raises(grpc.RpcError) as err:
        stub.Ping(pb.PingRequest(target="10.9.9.9:1", target_type="volumeServer"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "unknown ping target 10.9.9.9:1 of type volumeServer"
    status = stub.VolumeServerStatus(pb.VolumeServerStatusRequest())
    assert status.disk_statuses and status.memory_status.self > 0 and status.version


def test_every_rpc_is_implemented() -> None:
    generated = pb_grpc.VolumeServerServicer
    service = pb.DESCRIPTOR.services_by_name["VolumeServer"]
    left = [
        m.name
        for m in service.methods
        if getattr(VolumeServerServicer, m.name).__qualname__.startswith("_unimplemented")
        or getattr(VolumeServerServicer, m.name) is getattr(generated, m.name)
    ]
    assert left == []


def test_a_second_server_on_the_same_grpc_port_is_refused(rpc, tmp_path) -> None:
    """Bound without SO_REUSEPORT: a second server cannot silently share the port."""
    stub, store = rpc
    config = VolumeServerConfig(dirs=[str(tmp_path)], max_volume_counts=[4], port=stub.port)
    with pytest.raises(OSError, match=f"-port.grpc={config.grpc_port}"):
        start_grpc_server(VolumeServerServicer(store, config), "127.0.0.1", config.grpc_port)
