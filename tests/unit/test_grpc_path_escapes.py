"""Collections and shard ids from a request become file names: no RPC may reach a file
outside the data directories. A real EC volume sits next to the data directory (where
``../victim/victim`` points); every RPC that takes a collection is called with escaping names
and must fail cleanly, leaving every outside file as it was and creating none."""

from __future__ import annotations

import hashlib
import os

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from tests.unit.test_grpc_data_movement import Node, running_node
from tests.unit.test_volume import needle

pytestmark = pytest.mark.hardening  # also one of the hardening probes

ALL_SHARDS = list(range(14))
LOOKUP_FIRST = {"VolumeEcShardsGenerate", "VolumeEcShardsToVolume"}
"""These find the mounted volume by id first and refuse a collection that is not its own."""


def snapshot(directory: str) -> dict[str, str]:
    found = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as src:
                found[os.path.relpath(path, directory)] = hashlib.sha256(src.read()).hexdigest()
    return found


def escaping_calls(node: Node, victim: Node, collection: str):
    """(name, call) for every RPC whose request names a collection."""
    stub = node.stub

    def receive_file():
        info = pb.ReceiveFileInfo(
            volume_id=1, ext=".ec00", collection=collection, is_ec_volume=True
        )
        reply = stub.ReceiveFile(
            iter([pb.ReceiveFileRequest(info=info), pb.ReceiveFileRequest(file_content=b"evil")])
        )
        if reply.error:
            raise ValueError(reply.error)

    return [
        (
            "AllocateVolume",
            lambda: stub.AllocateVolume(
                pb.AllocateVolumeRequest(volume_id=1, collection=collection, version=3)
            ),
        ),
        (
            "VolumeEcShardsGenerate",
            lambda: stub.VolumeEcShardsGenerate(
                pb.VolumeEcShardsGenerateRequest(volume_id=1, collection=collection)
            ),
        ),
        (
            "VolumeEcShardsMount",
            lambda: stub.VolumeEcShardsMount(
                pb.VolumeEcShardsMountRequest(
                    volume_id=1, collection=collection, shard_ids=ALL_SHARDS
                )
            ),
        ),
        (
            "VolumeEcShardsRebuild",
            lambda: stub.VolumeEcShardsRebuild(
                pb.VolumeEcShardsRebuildRequest(volume_id=1, collection=collection)
            ),
        ),
        (
            "VolumeEcShardsCopy",
            lambda: stub.VolumeEcShardsCopy(
                pb.VolumeEcShardsCopyRequest(
                    volume_id=1,
                    collection=collection,
                    shard_ids=ALL_SHARDS,
                    copy_ecx_file=True,
                    copy_ecj_file=True,
                    copy_vif_file=True,
                    copy_ecsum_file=True,
                    source_data_node=victim.address,
                )
            ),
        ),
        (
            "VolumeEcShardsDelete",
            lambda: stub.VolumeEcShardsDelete(
                pb.VolumeEcShardsDeleteRequest(
                    volume_id=1, collection=collection, shard_ids=ALL_SHARDS
                )
            ),
        ),
        (
            "VolumeEcShardsDelete/teardown",
            lambda: stub.VolumeEcShardsDelete(
                pb.VolumeEcShardsDeleteRequest(
                    volume_id=1, collection=collection, full_teardown=True
                )
            ),
        ),
        (
            "VolumeEcShardsToVolume",
            lambda: stub.VolumeEcShardsToVolume(
                pb.VolumeEcShardsToVolumeRequest(volume_id=1, collection=collection)
            ),
        ),
        (
            "CopyFile",
            lambda: list(
                stub.CopyFile(
                    pb.CopyFileRequest(
                        volume_id=1,
                        ext=".ec00",
                        collection=collection,
                        is_ec_volume=True,
                        stop_offset=1 << 20,
                    )
                )
            ),
        ),
        ("ReceiveFile", receive_file),
    ]


def harmless_calls(node: Node, collection: str):
    """RPCs that take a collection but only compare it with a mounted volume's."""
    stub = node.stub
    return [
        lambda: stub.DeleteCollection(pb.DeleteCollectionRequest(collection=collection)),
        lambda: stub.VolumeEcBlobDelete(
            pb.VolumeEcBlobDeleteRequest(volume_id=1, collection=collection, file_key=1)
        ),
        lambda: list(
            stub.VolumeTierMoveDatToRemote(
                pb.VolumeTierMoveDatToRemoteRequest(
                    volume_id=1, collection=collection, destination_backend_name="s3.default"
                )
            )
        ),
        lambda: list(
            stub.VolumeTierMoveDatFromRemote(
                pb.VolumeTierMoveDatFromRemoteRequest(volume_id=1, collection=collection)
            )
        ),
    ]


@pytest.fixture
def setup(tmp_path):
    with (
        running_node(str(tmp_path / "data")) as node,
        running_node(str(tmp_path / "victim")) as victim,
    ):
        victim.store.add_volume(1, collection="victim")
        for key in range(1, 20):
            victim.store.write_needle(1, needle(key, os.urandom(3000)))
        victim.stub.VolumeEcShardsGenerate(
            pb.VolumeEcShardsGenerateRequest(volume_id=1, collection="victim")
        )
        yield node, victim, tmp_path


@pytest.mark.parametrize(
    "collection", ["../victim/victim", "..", "/abs/victim", "a\\..\\b", "x\x00y", "c" * 300]
)
def test_no_rpc_reaches_outside_the_data_directory(setup, collection) -> None:
    node, victim, root = setup
    if collection.startswith("/"):
        collection = str(root / "victim" / "victim")
    outside = snapshot(str(root / "victim"))
    assert any(name.endswith(".ec13") for name in outside)
    for name, attempt in escaping_calls(node, victim, collection):
        with pytest.raises((grpc.RpcError, ValueError)) as err:
            attempt()
        text = err.value.details() if isinstance(err.value, grpc.RpcError) else str(err.value)
        if name not in LOOKUP_FIRST:
            assert "invalid collection" in text, (name, text)
    for attempt in harmless_calls(node, collection):
        try:
            attempt()
        except grpc.RpcError:
            pass
    assert snapshot(str(root / "victim")) == outside
    assert node.store.ec.find(1) is None  # nothing outside was mounted
    assert sorted(os.listdir(root)) == ["data", "victim"]
    assert os.listdir(node.directory) == ["vol_dir.uuid"]


@pytest.mark.parametrize("shard_id", [32, 1000, 2**32 - 1])
def test_shard_ids_beyond_the_format_are_refused(setup, shard_id) -> None:
    node, _, _ = setup
    for attempt in (
        lambda: node.stub.VolumeEcShardsMount(
            pb.VolumeEcShardsMountRequest(volume_id=1, collection="c", shard_ids=[shard_id])
        ),
        lambda: node.stub.VolumeEcShardsDelete(
            pb.VolumeEcShardsDeleteRequest(volume_id=1, collection="c", shard_ids=[shard_id])
        ),
    ):
        with pytest.raises(grpc.RpcError, match=f"invalid shard id {shard_id}"):
            attempt()
