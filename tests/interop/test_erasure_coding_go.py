"""Erasure coding against Go 4.48: the shards, ``.ecx``, ``.ecsum`` and ``.vif`` we generate
from a volume are the files ``weed shell ec.encode`` makes Go's server write for it."""

from __future__ import annotations

import json
import os
import random
import shutil

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from seaweed_volume.core.disk_location import DiskLocation
from seaweed_volume.core.erasure_coding.bitrot import load_sidecar, save_sidecar
from seaweed_volume.core.erasure_coding.reader import read_ec_needle
from seaweed_volume.core.errors import AlreadyDeleted, NotFound
from seaweed_volume.core.needle_map.memory import MemoryNeedleMapKind
from seaweed_volume.core.store import Store
from seaweed_volume.core.types import OffsetWidth
from tests.cluster.test_weed_clients import shell
from tests.support.go_cluster import http, wait_until
from tests.unit.test_grpc_data_movement import running_node


@pytest.fixture(scope="module")
def encoded_by_go(go_master, tmp_path_factory) -> tuple[str, str, int, dict[str, bytes | None]]:
    """(Go's data dir after ec.encode, a copy of the volume as it was before, volume id, the
    files by file id: ``None`` for the deleted one)."""
    root = tmp_path_factory.mktemp("ec")
    go_dir, before = str(root / "go"), str(root / "before")
    os.makedirs(go_dir)
    go_master.start_volume(go_dir)
    grow = f"{go_master.master_url}/vol/grow?count=1&collection=ec"
    # The master grows once the volume server's first heartbeat has reached it.
    wait_until(lambda: http("GET", grow)[0] == 200, what="the master to grow a volume")
    first = go_master.assign(collection="ec")
    vid, rest = first["fid"].split(",")
    key, cookie = int(rest[:-8], 16), rest[-8:]
    rng = random.Random(7)
    files: dict[str, bytes | None] = {}
    for i in range(40):  # ~2.8 MB: a row of 1 MiB blocks, the tail zero-padded
        fid = f"{vid},{key + i:x}{cookie}"
        body = files[fid] = rng.randbytes(70_000 + i)
        headers = {"Content-Type": "application/octet-stream"}
        assert http("POST", f"http://{first['url']}/{fid}", body, headers)[0] == 201
    assert http("DELETE", f"http://{first['url']}/{vid},{key + 3:x}{cookie}")[0] == 202
    files[f"{vid},{key + 3:x}{cookie}"] = None
    with grpc.insecure_channel(f"127.0.0.1:{go_master.volume_port + 10000}") as channel:
        pb_grpc.VolumeServerStub(channel).VolumeMarkReadonly(
            pb.VolumeMarkReadonlyRequest(volume_id=int(vid))
        )
    os.makedirs(before)
    for suffix in (".dat", ".idx", ".vif"):
        shutil.copy(os.path.join(go_dir, f"ec_{vid}{suffix}"), before)
    output = shell(go_master, f"lock\nec.encode -collection=ec -volumeId={vid} -force\nunlock")
    assert "Successfully completed EC encoding" in output, output
    return go_dir, before, int(vid), files


def _vif(path: str) -> dict:
    info = json.load(open(path))
    info["ecShardConfig"].pop("encodeTsNs")
    return info


def test_generated_shards_are_gos(encoded_by_go, tmp_path) -> None:
    go_dir, before, vid, _ = encoded_by_go
    ours = str(tmp_path / "ours")
    shutil.copytree(before, ours)
    with running_node(ours) as node:
        node.stub.VolumeEcShardsGenerate(
            pb.VolumeEcShardsGenerateRequest(volume_id=vid, collection="ec")
        )
        with pytest.raises(grpc.RpcError, match="existing collection:ec unexpected input: x"):
            node.stub.VolumeEcShardsGenerate(
                pb.VolumeEcShardsGenerateRequest(volume_id=vid, collection="x")
            )
        with pytest.raises(grpc.RpcError, match="volume 99 not found"):
            node.stub.VolumeEcShardsGenerate(pb.VolumeEcShardsGenerateRequest(volume_id=99))
    base, go_base = os.path.join(ours, f"ec_{vid}"), os.path.join(go_dir, f"ec_{vid}")
    for suffix in [f".ec{i:02d}" for i in range(14)] + [".ecx"]:
        assert open(base + suffix, "rb").read() == open(go_base + suffix, "rb").read(), suffix
    # The sidecar differs only in its random encode id.
    ours_sidecar = load_sidecar(base + ".ecsum")
    ours_sidecar.encode_uuid = load_sidecar(go_base + ".ecsum").encode_uuid
    save_sidecar(base + ".ecsum", ours_sidecar)
    assert open(base + ".ecsum", "rb").read() == open(go_base + ".ecsum", "rb").read()
    assert _vif(base + ".vif") == _vif(go_base + ".vif")


def test_we_read_and_delete_in_the_shards_go_wrote(encoded_by_go, tmp_path) -> None:
    """Go's 5-byte build writes 17-byte .ecx entries and no width in the EC .vif; a store
    whose default is 4-byte offsets still reads them right."""
    go_dir, _, vid, files = encoded_by_go
    ours = str(tmp_path / "copy")
    os.makedirs(ours)
    for name in os.listdir(go_dir):
        if name.startswith(f"ec_{vid}."):
            shutil.copy(os.path.join(go_dir, name), ours)
    for name in (f"ec_{vid}.ec02", f"ec_{vid}.ec11"):  # two shards lost: rebuilt per read
        os.remove(os.path.join(ours, name))
    store = Store([DiskLocation(ours, 8, needle_map_kind=MemoryNeedleMapKind())])
    store.load_existing_volumes()
    try:
        ec_volume = store.ec.find(vid)
        assert ec_volume.width == OffsetWidth.FIVE and sorted(ec_volume.shards) == [
            i for i in range(14) if i not in (2, 11)
        ]
        for fid, data in files.items():
            needle_id = int(fid.split(",")[1][:-8], 16)
            if data is None:
                with pytest.raises(AlreadyDeleted if ec_volume.find(needle_id) else NotFound):
                    read_ec_needle(ec_volume, needle_id)
            else:
                assert read_ec_needle(ec_volume, needle_id).data == data, fid
        alive = next(fid for fid, data in files.items() if data is not None)
        assert ec_volume.delete_needle(int(alive.split(",")[1][:-8], 16))
        with pytest.raises(AlreadyDeleted):
            read_ec_needle(ec_volume, int(alive.split(",")[1][:-8], 16))
    finally:
        store.close()
