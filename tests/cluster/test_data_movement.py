"""Go's own tools moving data to and from our server: ``weed shell volume.move`` from a Go
volume server to ours (VolumeCopy pulling through Go's CopyFile, then a tail through Go's
VolumeTailSender), and ``weed backup`` of a volume we serve (VolumeSyncStatus and
VolumeIncrementalCopy). Go 4.48 refuses loopback peers as a copy *source*, so the other
direction is covered by the parity tests of the RPCs it would call.
"""

from __future__ import annotations

import json
import os

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from tests.cluster.test_weed_clients import shell, weed
from tests.support.go_cluster import GoCluster, http, wait_until
from tests.support.our_server import OurServer


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """A Go master, a Go volume server holding collection ``moved`` (filled before ours
    joins, so the volume is Go's), and ours."""
    workdir = str(tmp_path_factory.mktemp("movement"))
    go = GoCluster(workdir)
    with go.running():
        go.start_master()
        os.makedirs(os.path.join(workdir, "go"))
        go.start_volume(os.path.join(workdir, "go"))
        status, _, body = http("GET", f"{go.master_url}/vol/grow?count=1&collection=moved")
        assert status == 200, body
        moved = _fill(go, "moved")
        ours = OurServer(
            os.path.join(workdir, "ours"),
            go.master_port,
            os.path.join(workdir, "ours.log"),
            extra=["-offsetBytes=5"],  # the same .idx width as the PyPI Go build
        )
        ours.start()
        try:
            ours.wait_registered(go.master_url)
            yield go, ours, moved
        finally:
            ours.stop()


def _fill(go: GoCluster, collection: str) -> tuple[int, dict[str, bytes | None]]:
    """Ten files in the volume of the first assignment, the second one deleted."""
    first = go.assign(collection=collection)
    vid, rest = first["fid"].split(",")
    key, cookie = int(rest[:-8], 16), rest[-8:]
    files: dict[str, bytes | None] = {}
    for i in range(10):
        fid = f"{vid},{key + i:x}{cookie}"
        data = f"moving file {i} ".encode() * (50 + i)
        status = http("POST", f"http://{first['url']}/{fid}", data, {"Content-Type": "x/y"})[0]
        assert status == 201
        files[fid] = data
    doomed = list(files)[1]
    assert http("DELETE", f"http://{first['url']}/{doomed}")[0] == 202
    files[doomed] = None
    return int(vid), files


def _read_files(directory: str, base: str) -> dict[str, bytes]:
    return {
        suffix: open(os.path.join(directory, base + suffix), "rb").read()
        for suffix in (".dat", ".idx", ".vif")
    }


def _locations(go: GoCluster, vid: int) -> list[str]:
    body = json.loads(http("GET", f"{go.master_url}/dir/lookup?volumeId={vid}")[2])
    return [location["url"] for location in body.get("locations") or []]


def test_volume_move_from_go_lands_identical_files_here(cluster) -> None:
    go, ours, (vid, files) = cluster
    go_dir = os.path.join(go.workdir, "go")
    before = _read_files(go_dir, f"moved_{vid}")
    output = shell(
        go,
        f"lock\nvolume.move -source=127.0.0.1:{go.volume_port} -target={ours.address} "
        f"-volumeId={vid}\nunlock",
    )
    assert f"moved volume {vid}" in output, output
    assert _read_files(ours.data_dir, f"moved_{vid}") == before
    # This master does not say volumePreallocate: nothing is reserved past the data.
    dat = os.stat(os.path.join(ours.data_dir, f"moved_{vid}.dat"))
    assert dat.st_blocks * 512 < dat.st_size + 1024 * 1024
    assert not os.path.exists(os.path.join(go_dir, f"moved_{vid}.dat"))
    wait_until(lambda: _locations(go, vid) == [ours.address], what="the master to see the move")
    for fid, data in files.items():
        status, _, body = http("GET", f"{ours.url}/{fid}")
        assert (status, body) == ((404, b"") if data is None else (200, data)), fid


def test_weed_backup_of_our_volume_is_byte_identical_and_incremental(cluster, tmp_path) -> None:
    go, ours, _ = cluster
    vid = 20
    with grpc.insecure_channel(f"127.0.0.1:{ours.port + 10000}") as channel:
        pb_grpc.VolumeServerStub(channel).AllocateVolume(
            pb.AllocateVolumeRequest(volume_id=vid, collection="backed", version=3)
        )
    wait_until(lambda: _locations(go, vid) == [ours.address], what="the master to see volume 20")

    def write(keys: range) -> None:
        for key in keys:
            fid = f"{vid},{key:x}0000beef"
            body = os.urandom(300 + key)
            assert http("POST", f"{ours.url}/{fid}", body, {"Content-Type": "x/y"})[0] == 201

    def backup() -> None:
        result = weed(
            "backup",
            f"-master=127.0.0.1:{go.master_port}",
            f"-volumeId={vid}",
            "-collection=backed",
            f"-dir={tmp_path}",
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert _read_files(str(tmp_path), f"backed_{vid}") == _read_files(
            ours.data_dir, f"backed_{vid}"
        )

    write(range(1, 6))
    assert http("DELETE", f"{ours.url}/{vid},30000beef")[0] == 202
    backup()
    write(range(6, 9))  # the second run only fetches what came after the first
    backup()
