"""EC shards spread over two of our servers by ``weed shell ec.encode``: the shell copies
shards between them (VolumeEcShardsCopy), and each server reads what it lacks from the other
(the master's LookupEcVolume, then VolumeEcShardRead), even with a shard lost."""

from __future__ import annotations

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
def spread(tmp_path_factory: pytest.TempPathFactory):
    workdir = str(tmp_path_factory.mktemp("spread"))
    go = GoCluster(workdir)
    servers: list[OurServer] = []
    with go.running():
        go.start_master()
        try:
            for name in ("a", "b"):
                server = OurServer(
                    os.path.join(workdir, name),
                    go.master_port,
                    os.path.join(workdir, name + ".log"),
                )
                server.start()
                servers.append(server)
            for server in servers:
                server.wait_registered(go.master_url)
            assert http("GET", f"{go.master_url}/vol/grow?count=1&collection=sp")[0] == 200
            first = go.assign(collection="sp")
            vid, rest = first["fid"].split(",")
            key, cookie = int(rest[:-8], 16), rest[-8:]
            rng = random.Random(3)
            files = {}
            for i in range(25):
                fid = f"{vid},{key + i:x}{cookie}"
                files[fid] = rng.randbytes(60_000 + 31 * i)
                headers = {"Content-Type": "application/octet-stream"}
                assert http("POST", f"http://{first['url']}/{fid}", files[fid], headers)[0] == 201
            output = shell(go, f"lock\nec.encode -collection=sp -volumeId={vid} -force\nunlock")
            assert "Successfully completed EC encoding" in output, output
            yield go, servers, int(vid), files
        finally:
            for server in servers:
                server.stop()


def _shards_on(server: OurServer, vid: int) -> set[int]:
    prefix = f"sp_{vid}.ec"
    return {
        int(name[len(prefix) :])
        for name in os.listdir(server.data_dir)
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    }


def test_shards_are_spread_and_every_server_reads_everything(spread) -> None:
    _, servers, vid, files = spread
    held = [_shards_on(server, vid) for server in servers]
    assert held[0] | held[1] == set(range(14)) and held[0] and held[1], held
    for server in servers:
        for fid, data in files.items():
            status, _, body = http("GET", f"{server.url}/{fid}")
            assert (status, body == data) == (200, True), (server.address, fid)


def test_a_lost_shard_is_rebuilt_from_both_servers(spread) -> None:
    go, servers, vid, files = spread
    owner = next(s for s in servers if 0 in _shards_on(s, vid))
    with grpc.insecure_channel(f"127.0.0.1:{owner.port + 10000}") as channel:
        pb_grpc.VolumeServerStub(channel).VolumeEcShardsUnmount(
            pb.VolumeEcShardsUnmountRequest(volume_id=vid, shard_ids=[0])
        )

    def master_forgot_shard_0() -> bool:
        body = http("GET", f"{go.master_url}/dir/lookup?volumeId={vid}")[2]
        return body.count(b'"url"') == 13  # one location per shard still held

    wait_until(master_forgot_shard_0, what="the master to drop shard 0")
    for server in servers:
        for fid, data in list(files.items())[:8]:
            status, _, body = http("GET", f"{server.url}/{fid}")
            assert (status, body == data) == (200, True), (server.address, fid)
