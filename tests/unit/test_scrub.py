"""Scrubbing volumes and EC volumes over a loopback gRPC channel."""

from __future__ import annotations

import os

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from tests.unit.test_grpc_data_movement import nodes  # noqa: F401 - fixture
from tests.unit.test_grpc_erasure_coding import encode
from tests.unit.test_volume import needle

INDEX, FULL, LOCAL, CHECKSUM = 1, 2, 3, 4


def fill(node, vid: int) -> None:
    node.store.add_volume(vid)
    for key in range(1, 6):
        node.store.write_needle(vid, needle(key, os.urandom(700 + key)))
    node.store.delete_needle(vid, 2, 0xABCD)


def test_healthy_and_broken_volumes(nodes) -> None:  # noqa: F811
    a, _ = nodes
    fill(a, 1)
    fill(a, 2)
    for mode in (INDEX, FULL, LOCAL):
        reply = a.stub.ScrubVolume(pb.ScrubVolumeRequest(mode=mode))
        assert (reply.total_volumes, reply.total_files, list(reply.broken_volume_ids)) == (
            2,
            12,
            [],
        ), reply.details
    # A flipped data byte fails the record's CRC (FULL only); a torn index entry fails both.
    offset, size = a.store.find_volume(1).locate(3)
    with open(os.path.join(a.directory, "1.dat"), "r+b") as dat:
        dat.seek(offset + 30)
        byte = dat.read(1)
        dat.seek(offset + 30)
        dat.write(bytes([byte[0] ^ 0xFF]))
    with open(os.path.join(a.directory, "2.idx"), "ab") as idx:
        idx.write(b"\xde\xad")
    reply = a.stub.ScrubVolume(pb.ScrubVolumeRequest(mode=INDEX))
    assert list(reply.broken_volume_ids) == [2]
    assert reply.details == ["expected an index file of size 104, got 102"]
    reply = a.stub.ScrubVolume(pb.ScrubVolumeRequest(mode=FULL, volume_ids=[1]))
    assert list(reply.broken_volume_ids) == [1]
    assert reply.details[0].startswith("failed to read needle 3 on volume 1: invalid CRC")
    with pytest.raises(grpc.RpcError, match="unsupported volume scrub mode 9"):
        a.stub.ScrubVolume(pb.ScrubVolumeRequest(mode=9, volume_ids=[1]))
    with pytest.raises(grpc.RpcError, match="volume id 7 not found"):
        a.stub.ScrubVolume(pb.ScrubVolumeRequest(mode=INDEX, volume_ids=[7]))


def test_mark_broken_read_only_and_maintenance(nodes) -> None:  # noqa: F811
    a, _ = nodes
    fill(a, 3)
    with open(os.path.join(a.directory, "3.idx"), "ab") as idx:
        idx.write(b"\xde\xad")
    a.stub.SetState(pb.SetStateRequest(state=pb.VolumeServerState(maintenance=True)))
    with pytest.raises(grpc.RpcError, match="maintenance mode"):
        a.stub.ScrubVolume(
            pb.ScrubVolumeRequest(mode=INDEX, volume_ids=[3], mark_broken_volumes_readonly=True)
        )
    a.stub.SetState(pb.SetStateRequest(state=pb.VolumeServerState(maintenance=False, version=1)))
    reply = a.stub.ScrubVolume(
        pb.ScrubVolumeRequest(mode=INDEX, volume_ids=[3], mark_broken_volumes_readonly=True)
    )
    assert reply.details[-1] == "volume 3 is now read-only"
    assert a.store.find_volume(3).is_read_only and a.store.find_volume(3).info.read_only


def test_ec_scrubs(nodes) -> None:  # noqa: F811
    a, _ = nodes
    encode(a)
    a.stub.VolumeEcShardsMount(
        pb.VolumeEcShardsMountRequest(volume_id=5, collection="e", shard_ids=list(range(14)))
    )
    for mode in (INDEX, LOCAL, FULL, CHECKSUM):
        reply = a.stub.ScrubEcVolume(pb.ScrubEcVolumeRequest(mode=mode))
        assert (reply.total_volumes, list(reply.broken_volume_ids)) == (1, []), reply.details
    assert a.stub.ScrubEcVolume(pb.ScrubEcVolumeRequest(mode=LOCAL)).total_files == 29
    with open(os.path.join(a.directory, "e_5.ec00"), "r+b") as shard:
        shard.seek(100)
        shard.write(b"rot")
    reply = a.stub.ScrubEcVolume(pb.ScrubEcVolumeRequest(mode=CHECKSUM))
    assert [(s.shard_id, s.volume_id) for s in reply.broken_shard_infos] == [(0, 5)]
    assert "checksum mismatch at block 0" in reply.details[0]
    reply = a.stub.ScrubEcVolume(pb.ScrubEcVolumeRequest(mode=LOCAL))
    assert list(reply.broken_volume_ids) == [5] and "invalid CRC" in reply.details[0]
    with pytest.raises(grpc.RpcError, match="only supported for FULL scrubs"):
        a.stub.ScrubEcVolume(pb.ScrubEcVolumeRequest(mode=LOCAL, force_deleted_needles_check=True))
    with pytest.raises(grpc.RpcError, match="EC volume id 8 not found"):
        a.stub.ScrubEcVolume(pb.ScrubEcVolumeRequest(mode=INDEX, volume_ids=[8]))
