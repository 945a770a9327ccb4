"""Remote tiering with Go's shell and a real S3 (``weed server -s3``): ``volume.tier.upload``
moves a volume's ``.dat`` of our server to the bucket the Go master names in its
``master.toml``, reads come from S3 (also after a restart), and ``volume.tier.download``
brings it back and deletes the object."""

from __future__ import annotations

import os

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import remote_pb2
from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from tests.cluster.test_weed_clients import shell
from tests.support.go_cluster import GoCluster, http
from tests.support.our_server import OurServer
from tests.support.s3_server import running_s3


@pytest.fixture(scope="module")
def tiered(tmp_path_factory: pytest.TempPathFactory):
    workdir = str(tmp_path_factory.mktemp("tier"))
    with running_s3(workdir) as s3:
        cwd = os.path.join(workdir, "cwd")
        os.makedirs(cwd)
        with open(os.path.join(cwd, "master.toml"), "w") as out:
            out.write(s3.master_toml())
        go = GoCluster(workdir, cwd=cwd)
        with go.running():
            go.start_master()
            ours = OurServer(
                os.path.join(workdir, "ours"),
                go.master_port,
                os.path.join(workdir, "log"),
                extra=["-volume.allowUntrustedRemoteEndpoints"],  # the S3 is on loopback
            )
            ours.start()
            try:
                ours.wait_registered(go.master_url)
                assert http("GET", f"{go.master_url}/vol/grow?count=1&collection=t")[0] == 200
                first = go.assign(collection="t")
                vid, rest = first["fid"].split(",")
                key, cookie = int(rest[:-8], 16), rest[-8:]
                files = {}
                for i in range(12):
                    fid = f"{vid},{key + i:x}{cookie}"
                    files[fid] = os.urandom(4000 + 13 * i)
                    assert (
                        http("POST", f"{ours.url}/{fid}", files[fid], {"Content-Type": "x/y"})[0]
                        == 201
                    )
                yield go, ours, s3, int(vid), files
            finally:
                ours.stop()


def _reads_match(ours: OurServer, files: dict[str, bytes]) -> None:
    for fid, data in files.items():
        status, _, body = http("GET", f"{ours.url}/{fid}")
        assert (status, body == data) == (200, True), fid


def _stub(ours: OurServer):
    return pb_grpc.VolumeServerStub(grpc.insecure_channel(f"127.0.0.1:{ours.port + 10000}"))


def test_refusals(tiered) -> None:
    _, ours, _, vid, _ = tiered
    stub = _stub(ours)
    cases = [
        (
            pb.VolumeTierMoveDatToRemoteRequest(volume_id=999, destination_backend_name="s3"),
            "volume 999 not found",
        ),
        (
            pb.VolumeTierMoveDatToRemoteRequest(
                volume_id=vid, collection="x", destination_backend_name="s3"
            ),
            "existing collection:t unexpected input: x",
        ),
        (
            pb.VolumeTierMoveDatToRemoteRequest(
                volume_id=vid, collection="t", destination_backend_name="nope.1"
            ),
            "destination nope.1 not found, supported: [s3 s3.default]",
        ),
    ]
    for request, message in cases:
        with pytest.raises(grpc.RpcError) as err:
            list(stub.VolumeTierMoveDatToRemote(request))
        assert err.value.details() == message
    with pytest.raises(grpc.RpcError, match=f"volume {vid} is already on local disk"):
        list(
            stub.VolumeTierMoveDatFromRemote(
                pb.VolumeTierMoveDatFromRemoteRequest(volume_id=vid, collection="t")
            )
        )


def test_upload_reads_restart_download(tiered) -> None:
    go, ours, s3, vid, files = tiered
    dat = os.path.join(ours.data_dir, f"t_{vid}.dat")
    original = open(dat, "rb").read()
    output = shell(
        go,
        f"lock\nvolume.tier.upload -dest=s3.default -collection=t -fullPercent=0 -quietFor=0s "
        f"-volumeId={vid}\nunlock",
    )
    assert not os.path.exists(dat), output
    [key] = s3.keys()
    assert s3.client.get_object(Bucket=s3.bucket, Key=key)["Body"].read() == original
    _reads_match(ours, files)
    status, _, _ = http("POST", f"{ours.url}/{vid},ff0000abcd", b"late", {"Content-Type": "x/y"})
    assert status >= 400  # a tiered volume takes no writes

    ours.stop()  # the restarted server learns the tier from the master before loading
    ours.start()
    ours.wait_registered(go.master_url)
    _reads_match(ours, files)

    output = shell(go, f"lock\nvolume.tier.download -collection=t -volumeId={vid}\nunlock")
    assert open(dat, "rb").read() == original, output
    assert s3.keys() == []
    _reads_match(ours, files)


def test_fetch_and_write_needle_from_s3(tiered) -> None:
    _, ours, s3, vid, _ = tiered
    body = os.urandom(5000)
    s3.client.put_object(Bucket=s3.bucket, Key="dir/object.bin", Body=b"x" * 100 + body)
    reply = _stub(ours).FetchAndWriteNeedle(
        pb.FetchAndWriteNeedleRequest(
            volume_id=vid,
            needle_id=0x77,
            cookie=0x1234,
            offset=100,
            size=len(body),
            remote_conf=remote_pb2.RemoteConf(
                type="s3",
                s3_endpoint=s3.endpoint,
                s3_force_path_style=True,
                s3_access_key="any",
                s3_secret_key="any",
            ),
            remote_location=remote_pb2.RemoteStorageLocation(
                name="it", bucket=s3.bucket, path="/dir/object.bin"
            ),
        )
    )
    status, _, stored = http("GET", f"{ours.url}/{vid},7700001234")
    assert (status, stored) == (200, body)
    assert reply.e_tag


def test_fetch_and_write_needle_pushes_to_replicas(tiered, tmp_path) -> None:
    go, ours, s3, _, _ = tiered
    replica = OurServer(str(tmp_path / "replica"), go.master_port, str(tmp_path / "log"))
    replica.start()
    try:
        vid = 40
        for server in (ours, replica):
            _stub(server).AllocateVolume(
                pb.AllocateVolumeRequest(volume_id=vid, collection="r", version=3)
            )
        body = os.urandom(3000)
        s3.client.put_object(Bucket=s3.bucket, Key="replicated.bin", Body=body)
        _stub(ours).FetchAndWriteNeedle(
            pb.FetchAndWriteNeedleRequest(
                volume_id=vid,
                needle_id=0x9,
                cookie=0xAB,
                size=len(body),
                replicas=[pb.FetchAndWriteNeedleRequest.Replica(url=replica.address)],
                remote_conf=remote_pb2.RemoteConf(
                    type="s3", s3_endpoint=s3.endpoint, s3_force_path_style=True
                ),
                remote_location=remote_pb2.RemoteStorageLocation(
                    bucket=s3.bucket, path="/replicated.bin"
                ),
            )
        )
        for server in (ours, replica):
            assert http("GET", f"{server.url}/{vid},9000000ab")[0::2] == (200, body)
    finally:
        replica.stop()
