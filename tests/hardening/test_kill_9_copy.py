"""kill -9 of our server while it pulls a volume from Go's server (``VolumeCopy``, throttled to
1 MB/s): after a restart the half-copied volume is not served, and copying again brings every
needle and leaves nothing of the first attempt behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
from collections.abc import Iterator

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from tests.support.go_cluster import GoCluster, http, wait_until
from tests.support.our_server import OurServer

pytestmark = pytest.mark.hardening

COLLECTION = "copied"


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[GoCluster, OurServer, int, dict[str, bytes | None]]]:
    """A Go master, Go's volume server holding a ~2 MB volume (filled before ours joins, so
    the volume is Go's), and ours."""
    workdir = str(tmp_path_factory.mktemp("kill_9_copy"))
    go = GoCluster(workdir)
    with go.running():
        go.start_master()
        os.makedirs(os.path.join(workdir, "go"))
        go.start_volume(os.path.join(workdir, "go"), extra=["-preStopSeconds=0"])
        grow = f"{go.master_url}/vol/grow?count=1&collection={COLLECTION}"
        # The master grows once the volume server's first heartbeat has reached it.
        wait_until(lambda: http("GET", grow)[0] == 200, what="the master to grow a volume")
        vid, files = _fill(go, 200)
        ours = OurServer(
            os.path.join(workdir, "ours"),
            go.master_port,
            os.path.join(workdir, "ours.log"),
            extra=["-offsetBytes=5"],  # the .idx width of the PyPI Go build
        )
        ours.start()
        try:
            ours.wait_registered(go.master_url)
            yield go, ours, vid, files
        finally:
            ours.stop()


def _fill(go: GoCluster, count: int) -> tuple[int, dict[str, bytes | None]]:
    first = go.assign(collection=COLLECTION, count=str(count))
    rng = random.Random(3)
    files: dict[str, bytes | None] = {}
    for i in range(count):
        fid = f"{first['fid']}_{i}" if i else first["fid"]
        files[fid] = rng.randbytes(rng.randint(4 * 1024, 16 * 1024))
        status = http("POST", f"http://{first['url']}/{fid}", files[fid], {"Content-Type": "x/y"})
        assert status[0] == 201
    for fid in list(files)[::4]:
        assert http("DELETE", f"http://{first['url']}/{fid}")[0] == 202
        files[fid] = None
    return int(first["fid"].split(",")[0]), files


@contextlib.contextmanager
def _stub(ours: OurServer) -> Iterator[pb_grpc.VolumeServerStub]:
    with grpc.insecure_channel(f"127.0.0.1:{ours.port + 10000}") as channel:
        yield pb_grpc.VolumeServerStub(channel)


def _copy(stub: pb_grpc.VolumeServerStub, go: GoCluster, vid: int, rate: int = 0) -> None:
    request = pb.VolumeCopyRequest(
        volume_id=vid,
        collection=COLLECTION,
        source_data_node=f"127.0.0.1:{go.volume_port}",
        io_byte_per_second=rate,
    )
    list(stub.VolumeCopy(request))


def _volume_ids(ours: OurServer) -> list[int]:
    return [v["Id"] for v in json.loads(http("GET", f"{ours.url}/status")[2])["Volumes"] or []]


def test_kill_9_during_volume_copy_from_go(cluster) -> None:
    go, ours, vid, files = cluster
    base = os.path.join(ours.data_dir, f"{COLLECTION}_{vid}")
    outcome: list[str] = []

    def copy_until_killed(stub: pb_grpc.VolumeServerStub) -> None:
        try:
            _copy(stub, go, vid, rate=1024 * 1024)
        except grpc.RpcError:
            outcome.append("killed")
        else:
            outcome.append("finished")

    with _stub(ours) as stub:
        copying = threading.Thread(target=copy_until_killed, args=(stub,))
        copying.start()
        try:
            partial = base + ".dat.copying"  # renamed to .dat once whole
            wait_until(
                lambda: os.path.exists(partial) and os.path.getsize(partial) > 0,
                what="the copy to start",
            )
        finally:
            ours.stop(sig=signal.SIGKILL)
            copying.join(timeout=30)
    assert outcome == ["killed"]
    assert os.path.exists(base + ".note")

    ours.start()
    ours.wait_registered(go.master_url)
    assert vid not in _volume_ids(ours)  # no .idx or .vif yet: not a volume, to Go either

    with _stub(ours) as stub:
        _copy(stub, go, vid)
    assert vid in _volume_ids(ours)
    leftovers = [name for name in os.listdir(ours.data_dir) if name.endswith((".note", ".copying"))]
    assert not leftovers
    for fid, data in files.items():
        status, _, body = http("GET", f"{ours.url}/{fid}")
        assert (status, body) == ((404, b"") if data is None else (200, data)), fid
