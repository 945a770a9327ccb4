"""``weed shell ec.encode`` with our server as the only volume server: Go's shell asks us to
clear old shards, generate, mount and delete the original; reads then come from the shards,
deletes go to the journal, and all of it survives a restart."""

from __future__ import annotations

import json
import os
import random

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from tests.cluster.test_weed_clients import shell
from tests.support.go_cluster import GoCluster, http, wait_until
from tests.support.our_server import OurServer


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory):
    workdir = str(tmp_path_factory.mktemp("ec"))
    go = GoCluster(workdir)
    with go.running():
        go.start_master()
        ours = OurServer(
            os.path.join(workdir, "ours"), go.master_port, os.path.join(workdir, "log")
        )
        ours.start()
        try:
            ours.wait_registered(go.master_url)
            status, _, body = http("GET", f"{go.master_url}/vol/grow?count=1&collection=ec")
            assert status == 200, body
            first = go.assign(collection="ec")
            vid, rest = first["fid"].split(",")
            key, cookie = int(rest[:-8], 16), rest[-8:]
            rng = random.Random(11)
            files: dict[str, bytes | None] = {}
            for i in range(30):
                fid = f"{vid},{key + i:x}{cookie}"
                files[fid] = rng.randbytes(90_000 + 17 * i)
                headers = {"Content-Type": "application/octet-stream"}
                assert http("POST", f"{ours.url}/{fid}", files[fid], headers)[0] == 201
            gone = f"{vid},{key + 4:x}{cookie}"
            assert http("DELETE", f"{ours.url}/{gone}")[0] == 202
            files[gone] = None
            output = shell(go, f"lock\nec.encode -collection=ec -volumeId={vid} -force\nunlock")
            assert "Successfully completed EC encoding" in output, output
            yield go, ours, int(vid), files
        finally:
            ours.stop()


def _reads_match(ours: OurServer, files: dict[str, bytes | None]) -> None:
    for fid, data in files.items():
        status, _, body = http("GET", f"{ours.url}/{fid}")
        assert (status, body) == ((404, b"") if data is None else (200, data)), fid


def test_encode_leaves_shards_that_serve_reads(encoded) -> None:
    go, ours, vid, files = encoded
    names = set(os.listdir(ours.data_dir))
    assert {f"ec_{vid}.ec{i:02d}" for i in range(14)} <= names
    assert {f"ec_{vid}.ecx", f"ec_{vid}.ecj", f"ec_{vid}.vif", f"ec_{vid}.ecsum"} <= names
    assert f"ec_{vid}.dat" not in names and f"ec_{vid}.idx" not in names
    _reads_match(ours, files)
    lookup = json.loads(http("GET", f"{go.master_url}/dir/lookup?volumeId={vid}")[2])
    assert {location["url"] for location in lookup["locations"]} == {ours.address}
    with grpc.insecure_channel(f"127.0.0.1:{ours.port + 10000}") as channel:
        info = pb_grpc.VolumeServerStub(channel).VolumeEcShardsInfo(
            pb.VolumeEcShardsInfoRequest(volume_id=vid)
        )
    assert [s.shard_id for s in info.ec_shard_infos] == list(range(14))
    assert info.file_count == 29 and info.ec_shard_config.data_shards == 10


def test_delete_journals_and_everything_survives_a_restart(encoded) -> None:
    go, ours, vid, files = encoded
    victim = next(fid for fid, data in files.items() if data is not None)
    status, _, body = http("DELETE", f"{ours.url}/{victim}")
    assert status == 202 and json.loads(body)["size"] > len(files[victim])
    files[victim] = None
    assert os.path.getsize(os.path.join(ours.data_dir, f"ec_{vid}.ecj")) == 8
    _reads_match(ours, files)
    ours.stop()
    ours.start()
    ours.wait_registered(go.master_url)

    def listed() -> bool:
        lookup = json.loads(http("GET", f"{go.master_url}/dir/lookup?volumeId={vid}")[2])
        return {location["url"] for location in lookup.get("locations") or []} == {ours.address}

    wait_until(listed, what="the master to list the EC volume again")
    _reads_match(ours, files)


def _stub(ours: OurServer):
    return pb_grpc.VolumeServerStub(grpc.insecure_channel(f"127.0.0.1:{ours.port + 10000}"))


def test_ec_rebuild_regenerates_lost_shards(encoded) -> None:
    go, ours, vid, files = encoded
    stub = _stub(ours)
    stub.VolumeEcShardsUnmount(pb.VolumeEcShardsUnmountRequest(volume_id=vid, shard_ids=[3, 12]))
    kept = {
        i: open(os.path.join(ours.data_dir, f"ec_{vid}.ec{i:02d}"), "rb").read() for i in (3, 12)
    }
    stub.VolumeEcShardsDelete(
        pb.VolumeEcShardsDeleteRequest(volume_id=vid, collection="ec", shard_ids=[3, 12])
    )
    _reads_match(ours, files)  # shard 3 is rebuilt per read meanwhile
    output = shell(go, "lock\nec.rebuild -collection=ec -apply\nunlock")
    for shard_id, data in kept.items():
        path = os.path.join(ours.data_dir, f"ec_{vid}.ec{shard_id:02d}")
        assert os.path.exists(path), output
        assert open(path, "rb").read() == data
    info = stub.VolumeEcShardsInfo(pb.VolumeEcShardsInfoRequest(volume_id=vid))
    assert [s.shard_id for s in info.ec_shard_infos] == list(range(14)), output


def test_ec_decode_brings_the_volume_back(encoded) -> None:
    go, ours, vid, files = encoded
    output = shell(go, f"lock\nec.decode -collection=ec -volumeId={vid}\nunlock")
    names = set(os.listdir(ours.data_dir))
    assert {f"ec_{vid}.dat", f"ec_{vid}.idx"} <= names, output
    assert not any(name.startswith(f"ec_{vid}.ec") for name in names), output
    _reads_match(ours, files)
    status = json.loads(http("GET", f"{ours.url}/status")[2])
    assert any(v["Id"] == vid for v in status["Volumes"])
