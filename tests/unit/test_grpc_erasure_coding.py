"""EC RPCs between two of our servers over loopback gRPC: generate on one, copy shards to the
other, mount, read, delete, rebuild and decode (Go's shell drives the same RPCs in
tests/cluster/test_erasure_coding.py)."""

from __future__ import annotations

import os

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.core.disk_location import DiskLocation
from seaweed_volume.core.erasure_coding.reader import read_ec_needle
from seaweed_volume.core.errors import AlreadyDeleted, NotFound
from seaweed_volume.core.needle_map.memory import MemoryNeedleMapKind
from seaweed_volume.core.store import Store
from seaweed_volume.core.types import OffsetWidth
from tests.unit.test_grpc_data_movement import nodes  # noqa: F401 - fixture
from tests.unit.test_volume import needle

FIVE = OffsetWidth.FIVE
DATA = {i: os.urandom(5000 + 300 * i) for i in range(1, 30)}


def encode(node) -> None:
    node.store.add_volume(5, collection="e")
    for key, data in DATA.items():
        node.store.write_needle(5, needle(key, data))
    node.stub.VolumeEcShardsGenerate(pb.VolumeEcShardsGenerateRequest(volume_id=5, collection="e"))


def test_shards_copied_to_a_peer_serve_reads_there(nodes) -> None:  # noqa: F811
    a, b = nodes
    encode(a)
    a.stub.VolumeEcShardsMount(
        pb.VolumeEcShardsMountRequest(volume_id=5, collection="e", shard_ids=list(range(14)))
    )
    a.stub.VolumeEcBlobDelete(pb.VolumeEcBlobDeleteRequest(volume_id=5, collection="e", file_key=7))
    open(os.path.join(b.directory, "e_5.ecj"), "wb").write((9).to_bytes(8, "big"))
    b.stub.VolumeEcShardsCopy(
        pb.VolumeEcShardsCopyRequest(
            volume_id=5,
            collection="e",
            shard_ids=list(range(10)),
            copy_ecx_file=True,
            copy_ecj_file=True,
            copy_vif_file=True,
            copy_ecsum_file=True,
            source_data_node=a.address,
        )
    )
    for suffix in [f".ec{i:02d}" for i in range(10)] + [".ecx", ".vif", ".ecsum"]:
        assert (
            open(os.path.join(b.directory, "e_5" + suffix), "rb").read()
            == open(os.path.join(a.directory, "e_5" + suffix), "rb").read()
        ), suffix
    journal = open(os.path.join(b.directory, "e_5.ecj"), "rb").read()
    assert journal == (7).to_bytes(8, "big") + (9).to_bytes(8, "big")  # the peer's, then ours
    b.stub.VolumeEcShardsMount(
        pb.VolumeEcShardsMountRequest(volume_id=5, collection="e", shard_ids=list(range(10)))
    )
    ec_volume = b.store.ec.find(5)
    assert read_ec_needle(ec_volume, 12).data == DATA[12]
    for deleted in (7, 9):
        with pytest.raises(AlreadyDeleted):
            read_ec_needle(ec_volume, deleted)
    with pytest.raises(grpc.RpcError, match="VolumeEcShardsCopy volume 6: .*not found ec volume"):
        b.stub.VolumeEcShardsCopy(
            pb.VolumeEcShardsCopyRequest(volume_id=6, shard_ids=[13], source_data_node=a.address)
        )
    with pytest.raises(grpc.RpcError, match="invalid disk_id 3: only have 1 disks"):
        b.stub.VolumeEcShardsCopy(
            pb.VolumeEcShardsCopyRequest(volume_id=5, disk_id=3, source_data_node=a.address)
        )


def test_rebuild_then_decode_gives_the_volume_back(nodes) -> None:  # noqa: F811
    a, _ = nodes
    encode(a)
    originals = {i: open(os.path.join(a.directory, f"e_5.ec{i:02d}"), "rb").read() for i in (0, 13)}
    for shard_id in originals:
        os.remove(os.path.join(a.directory, f"e_5.ec{shard_id:02d}"))
    reply = a.stub.VolumeEcShardsRebuild(
        pb.VolumeEcShardsRebuildRequest(volume_id=5, collection="e")
    )
    assert list(reply.rebuilt_shard_ids) == [0, 13]
    for shard_id, data in originals.items():
        assert open(os.path.join(a.directory, f"e_5.ec{shard_id:02d}"), "rb").read() == data
    assert (
        a.stub.VolumeEcShardsRebuild(
            pb.VolumeEcShardsRebuildRequest(volume_id=77)
        ).rebuilt_shard_ids
        == []
    )

    a.stub.VolumeEcShardsMount(
        pb.VolumeEcShardsMountRequest(volume_id=5, collection="e", shard_ids=list(range(14)))
    )
    a.stub.VolumeEcBlobDelete(pb.VolumeEcBlobDeleteRequest(volume_id=5, collection="e", file_key=3))
    a.stub.VolumeUnmount(pb.VolumeUnmountRequest(volume_id=5))
    a.stub.VolumeEcShardsToVolume(pb.VolumeEcShardsToVolumeRequest(volume_id=5, collection="e"))
    assert not os.path.exists(os.path.join(a.directory, "e_5.ecj"))  # folded into .ecx
    a.stub.VolumeEcShardsUnmount(
        pb.VolumeEcShardsUnmountRequest(volume_id=5, shard_ids=list(range(14)))
    )
    a.stub.VolumeMount(pb.VolumeMountRequest(volume_id=5))
    volume = a.store.find_volume(5)
    for key, data in DATA.items():
        if key == 3:  # only its deletion is indexed now: unknown, as in Go (both a 404)
            with pytest.raises(NotFound):
                volume.read_needle(key)
        else:
            assert volume.read_needle(key).data == data


def test_decode_refusals(nodes) -> None:  # noqa: F811
    a, _ = nodes
    with pytest.raises(grpc.RpcError, match="ec volume 5 not found"):
        a.stub.VolumeEcShardsToVolume(pb.VolumeEcShardsToVolumeRequest(volume_id=5))
    a.store.add_volume(5, collection="e")
    a.store.write_needle(5, needle(1, b"only one"))
    a.store.delete_needle(5, 1, 0xABCD)
    a.store.write_needle(5, needle(2, b"two"))
    a.stub.VolumeEcShardsGenerate(pb.VolumeEcShardsGenerateRequest(volume_id=5, collection="e"))
    a.stub.VolumeEcShardsMount(
        pb.VolumeEcShardsMountRequest(volume_id=5, collection="e", shard_ids=[1, 2])
    )
    with pytest.raises(grpc.RpcError, match="ec volume 5 missing shard 0"):
        a.stub.VolumeEcShardsToVolume(pb.VolumeEcShardsToVolumeRequest(volume_id=5, collection="e"))
    a.stub.VolumeEcShardsMount(
        pb.VolumeEcShardsMountRequest(volume_id=5, collection="e", shard_ids=list(range(10)))
    )
    a.stub.VolumeEcBlobDelete(pb.VolumeEcBlobDeleteRequest(volume_id=5, collection="e", file_key=2))
    with pytest.raises(grpc.RpcError) as err:
        a.stub.VolumeEcShardsToVolume(pb.VolumeEcShardsToVolumeRequest(volume_id=5, collection="e"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.details() == "ec volume 5 has no live entries"


def test_deleting_the_collection_removes_its_ec_volumes(nodes) -> None:  # noqa: F811
    a, _ = nodes
    encode(a)
    a.stub.VolumeEcShardsMount(
        pb.VolumeEcShardsMountRequest(volume_id=5, collection="e", shard_ids=[0, 1])
    )
    a.stub.DeleteCollection(pb.DeleteCollectionRequest(collection="e"))
    assert a.store.ec.find(5) is None and a.store.find_volume(5) is None
    assert not [name for name in os.listdir(a.directory) if name.startswith("e_5.")]


def _reopen(directory: str):
    store = Store(
        [DiskLocation(directory, 8, needle_map_kind=MemoryNeedleMapKind(), default_width=FIVE)]
    )
    store.load_existing_volumes()
    return store


def test_restart_after_encode_prefers_the_shards(nodes) -> None:  # noqa: F811
    a, _ = nodes
    encode(a)
    store = _reopen(a.directory)
    try:
        assert store.find_volume(5) is None  # EC wins at start, as in Go
        assert sorted(store.ec.find(5).shards) == list(range(14))
        assert read_ec_needle(store.ec.find(5), 4).data == DATA[4]
    finally:
        store.close()


def test_restart_after_an_interrupted_encode_drops_the_shards(nodes) -> None:  # noqa: F811
    a, _ = nodes
    encode(a)
    os.truncate(os.path.join(a.directory, "e_5.ec07"), 4096)
    for shard_id in range(8, 14):
        os.truncate(os.path.join(a.directory, f"e_5.ec{shard_id:02d}"), 4096)
    for shard_id in range(7):  # all equally short: a crash mid-encode
        os.truncate(os.path.join(a.directory, f"e_5.ec{shard_id:02d}"), 4096)
    store = _reopen(a.directory)
    try:
        assert store.ec.find(5) is None
        assert not [n for n in os.listdir(a.directory) if ".ec" in n]
        assert store.find_volume(5).read_needle(4).data == DATA[4]
    finally:
        store.close()
