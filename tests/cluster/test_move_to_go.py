"""``weed shell volume.move`` from our server to Go's: Go pulls the volume through our
ReadVolumeFileStatus and CopyFile, tails it through our VolumeTailSender, then has us delete
it. Go 4.48 refuses a loopback source, so our server runs in a network namespace of its own
and the Go master and volume server on the host end of its veth pair."""

from __future__ import annotations

import json
import os

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from tests.cluster.test_weed_clients import shell
from tests.support.go_cluster import GoCluster, http, wait_until
from tests.support.netns import namespace
from tests.support.our_server import OurServer


@pytest.fixture(scope="module")
def apart(tmp_path_factory: pytest.TempPathFactory):
    workdir = str(tmp_path_factory.mktemp("apart"))
    with namespace() as space:
        go = GoCluster(workdir, ip=space.host_ip)
        with go.running():
            go.start_master()
            os.makedirs(os.path.join(workdir, "go"))
            go.start_volume(os.path.join(workdir, "go"))
            ours = OurServer(
                os.path.join(workdir, "ours"),
                go.master_port,
                os.path.join(workdir, "ours.log"),
                extra=["-offsetBytes=5"],
                ip=space.inner_ip,
                master_ip=space.host_ip,
                wrapper=space.runner,
            )
            ours.start()
            try:
                ours.wait_registered(go.master_url)
                yield go, ours
            finally:
                ours.stop()


def test_volume_move_from_us_lands_identical_files_in_go(apart) -> None:
    go, ours = apart
    vid = 30
    with grpc.insecure_channel(f"{ours.ip}:{ours.port + 10000}") as channel:
        pb_grpc.VolumeServerStub(channel).AllocateVolume(
            pb.AllocateVolumeRequest(volume_id=vid, collection="out", version=3)
        )
    files: dict[str, bytes | None] = {}
    for key in range(1, 16):
        fid = f"{vid},{key:x}0000cafe"
        files[fid] = os.urandom(2000 + 97 * key)
        assert http("POST", f"{ours.url}/{fid}", files[fid], {"Content-Type": "x/y"})[0] == 201
    gone = f"{vid},50000cafe"
    assert http("DELETE", f"{ours.url}/{gone}")[0] == 202
    files[gone] = None

    def where() -> set[str]:
        body = json.loads(http("GET", f"{go.master_url}/dir/lookup?volumeId={vid}")[2])
        return {location["url"] for location in body.get("locations") or []}

    wait_until(lambda: where() == {ours.address}, what="the master to see volume 30 on us")
    before = {
        suffix: open(os.path.join(ours.data_dir, f"out_{vid}{suffix}"), "rb").read()
        for suffix in (".dat", ".idx")
    }
    output = shell(
        go,
        f"lock\nvolume.move -source={ours.address} -target={go.ip}:{go.volume_port} "
        f"-volumeId={vid}\nunlock",
    )
    assert f"moved volume {vid}" in output, output
    go_dir = os.path.join(go.workdir, "go")
    for suffix, data in before.items():
        assert open(os.path.join(go_dir, f"out_{vid}{suffix}"), "rb").read() == data, suffix
    assert not os.path.exists(os.path.join(ours.data_dir, f"out_{vid}.dat"))
    wait_until(lambda: where() == {f"{go.ip}:{go.volume_port}"}, what="the master to see the move")
    for fid, data in files.items():
        status, _, body = http("GET", f"{go.volume_url}/{fid}")
        assert (status, body) == ((404, b"") if data is None else (200, data)), fid


def test_ec_encode_spreads_our_shards_to_go_and_both_serve_reads(apart) -> None:
    """Go copies our shards (CopyFile of EC files), mounts them, and each server reads the
    pieces it lacks from the other: Go through our VolumeEcShardRead, we through Go's."""
    go, ours = apart
    vid = 31
    with grpc.insecure_channel(f"{ours.ip}:{ours.port + 10000}") as channel:
        pb_grpc.VolumeServerStub(channel).AllocateVolume(
            pb.AllocateVolumeRequest(volume_id=vid, collection="spread", version=3)
        )
    files = {}
    for key in range(1, 21):
        fid = f"{vid},{key:x}0000d00d"
        files[fid] = os.urandom(40_000 + 11 * key)
        assert http("POST", f"{ours.url}/{fid}", files[fid], {"Content-Type": "x/y"})[0] == 201

    def where() -> set[str]:
        body = json.loads(http("GET", f"{go.master_url}/dir/lookup?volumeId={vid}")[2])
        return {location["url"] for location in body.get("locations") or []}

    wait_until(lambda: where() == {ours.address}, what="the master to see volume 31 on us")
    output = shell(go, f"lock\nec.encode -collection=spread -volumeId={vid} -force\nunlock")
    assert "Successfully completed EC encoding" in output, output
    go_shards = [
        n for n in os.listdir(os.path.join(go.workdir, "go")) if n.startswith("spread_31.ec")
    ]
    our_shards = [n for n in os.listdir(ours.data_dir) if n.startswith("spread_31.ec")]
    assert any(n[-2:].isdigit() for n in go_shards) and any(n[-2:].isdigit() for n in our_shards)
    for url in (go.volume_url, ours.url):
        for fid, data in files.items():
            status, _, body = http("GET", f"{url}/{fid}")
            assert (status, body == data) == (200, True), (url, fid)
