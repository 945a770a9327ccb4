"""The admin whitelist on gRPC, over a real loopback channel: a caller outside the list gets
PERMISSION_DENIED on every gated RPC and changes nothing; peer-to-peer and read-only RPCs
stay open; a listed caller goes through."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import symbol_database

from seaweed_volume.adapters.grpc.guard import UNGATED, peer_host
from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from seaweed_volume.adapters.grpc.server import VolumeServerServicer, start_grpc_server
from seaweed_volume.config import VolumeServerConfig
from seaweed_volume.container import build_container
from seaweed_volume.core.needle.record import Needle
from seaweed_volume.core.white_list import WhiteList
from tests.support.go_cluster import free_port_pair

pytestmark = pytest.mark.hardening  # also one of the hardening probes

SERVICE = pb.DESCRIPTOR.services_by_name["VolumeServer"]
GO_448_GATED = {
    "AllocateVolume",
    "BatchDelete",
    "VolumeDelete",
    "DeleteCollection",
    "VolumeMarkReadonly",
    "VolumeMarkWritable",
    "VolumeMount",
    "VolumeUnmount",
    "VolumeServerLeave",
    "VolumeNeedleStatus",
    "ReadAllNeedles",
}


def serve(tmp_path, white_list: WhiteList):
    port = free_port_pair()
    config = VolumeServerConfig(dirs=[str(tmp_path)], max_volume_counts=[4], port=port)
    store = build_container(config).store()
    store.add_volume(1)
    needle = Needle(cookie=0x1234, id=7, data=b"kept")
    needle.update_checksum()
    store.write_needle(1, needle)
    server = start_grpc_server(
        VolumeServerServicer(store, config), "127.0.0.1", config.grpc_port, white_list=white_list
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{config.grpc_port}")
    return server, channel, store


@pytest.fixture
def outsider(tmp_path):
    server, channel, store = serve(tmp_path, WhiteList(["10.9.9.9", "192.168.0.0/16"]))
    yield channel, store
    channel.close()
    server.stop(None).wait()
    store.close()


def call(channel: grpc.Channel, method) -> None:
    """Call ``method`` with an empty request, whatever its streaming shape, to the end."""
    request_class = symbol_database.Default().GetSymbol(method.input_type.full_name)
    response_class = symbol_database.Default().GetSymbol(method.output_type.full_name)
    path = f"/{SERVICE.full_name}/{method.name}"
    codecs = {
        "request_serializer": request_class.SerializeToString,
        "response_deserializer": response_class.FromString,
    }
    if method.client_streaming and method.server_streaming:
        list(channel.stream_stream(path, **codecs)(iter([request_class()]), timeout=10))
    elif method.client_streaming:
        channel.stream_unary(path, **codecs)(iter([request_class()]), timeout=10)
    elif method.server_streaming:
        list(channel.unary_stream(path, **codecs)(request_class(), timeout=10))
    else:
        channel.unary_unary(path, **codecs)(request_class(), timeout=10)


def test_every_gated_rpc_refuses_a_caller_outside_the_list(outsider) -> None:
    channel, store = outsider
    gated = [m for m in SERVICE.methods if m.name not in UNGATED]
    assert GO_448_GATED <= {m.name for m in gated}  # at least what Go 4.48 gates
    for method in gated:
        with pytest.raises(grpc.RpcError) as err:
            call(channel, method)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, method.name
        assert err.value.details() == "not authorized: 127.0.0.1", method.name
    stub = pb_grpc.VolumeServerStub(channel)
    with pytest.raises(grpc.RpcError):
        stub.BatchDelete(pb.BatchDeleteRequest(file_ids=["1,0700001234"]))
    assert store.read_needle(1, 7, 0x1234).data == b"kept"  # nothing deleted
    assert store.find_volume(1) is not None


def test_peer_and_read_only_rpcs_stay_open(outsider) -> None:
    channel, _ = outsider
    stub = pb_grpc.VolumeServerStub(channel)
    stub.Ping(pb.PingRequest())
    assert stub.VolumeServerStatus(pb.VolumeServerStatusRequest()).disk_statuses
    assert stub.VolumeStatus(pb.VolumeStatusRequest(volume_id=1)).file_count == 1
    for method in SERVICE.methods:
        if method.name in UNGATED:
            try:
                call(channel, method)
            except grpc.RpcError as err:
                assert err.code() != grpc.StatusCode.PERMISSION_DENIED, method.name


def test_every_ungated_rpc_exists_and_has_a_reason() -> None:
    names = {m.name for m in SERVICE.methods}
    assert set(UNGATED) <= names
    assert all(reason for reason in UNGATED.values())


@pytest.mark.parametrize("entries", [["127.0.0.1"], ["127.0.0.0/8"], []])
def test_a_listed_caller_or_no_list_goes_through(tmp_path, entries) -> None:
    server, channel, store = serve(tmp_path, WhiteList(entries))
    try:
        reply = pb_grpc.VolumeServerStub(channel).BatchDelete(
            pb.BatchDeleteRequest(file_ids=["1,0700001234"])
        )
        assert reply.results[0].status == 202
    finally:
        channel.close()
        server.stop(None).wait()
        store.close()


def test_peer_host_forms() -> None:
    assert peer_host("ipv4:127.0.0.1:5000") == "127.0.0.1"
    assert peer_host("ipv6:[::1]:5000") == "::1"
    assert peer_host("unix:/tmp/sock") == "unix:/tmp/sock"
    assert not WhiteList(["127.0.0.1"]).allows(peer_host("unix:/tmp/sock"))
