"""EC shards spread over two data directories (``-dir=d0,d1``), side by side with Go 4.48: the
same steps on Go's volume server and on ours, each with its own Go master, must leave the same
files per disk, mount the same shards per disk, answer the same ``VolumeEcShardsInfo`` and
reads, and show the master the same shards per disk id (the layouts of upstream's
TestEcLifecycleAcrossMultipleDisks and TestEcPartialShardsOnSiblingDiskCleanedUpOnRestart,
written here from their description)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import master_pb2, master_pb2_grpc
from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from seaweed_volume.core.erasure_coding.layout import shard_size
from seaweed_volume.core.volume_info import VolumeInfo, save_volume_info
from tests.support.go_cluster import GoCluster, GoProcess, http, wait_until
from tests.support.our_server import OurServer

KINDS = ("go", "ours")


@dataclass
class Side:
    """One volume server with two data directories, its own Go master, restartable."""

    kind: str
    root: str
    cluster: GoCluster = field(init=False)
    dirs: list[str] = field(init=False)
    server: GoProcess | OurServer | None = None
    port: int = 0

    def __post_init__(self) -> None:
        self.cluster = GoCluster(os.path.join(self.root, "cluster"))
        self.dirs = [os.path.join(self.root, d) for d in ("d0", "d1")]
        for directory in [self.cluster.workdir, *self.dirs]:
            os.makedirs(directory)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.kind == "go":
            self.server = self.cluster.start_volume(",".join(self.dirs), ["-max=8,8"])
            self.port = self.cluster.volume_port
            return
        ours = OurServer(
            ",".join(self.dirs),
            self.cluster.master_port,
            os.path.join(self.root, "ours.log"),
            extra=["-max=8,8", "-offsetBytes=5"],
        )
        ours.start()
        self.server, self.port = ours, ours.port

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.stop()
        if isinstance(self.server, GoProcess):
            self.cluster.processes.remove(self.server)
        self.server = None

    @contextlib.contextmanager
    def stub(self) -> Iterator[pb_grpc.VolumeServerStub]:
        with grpc.insecure_channel(f"127.0.0.1:{self.port + 10000}") as channel:
            yield pb_grpc.VolumeServerStub(channel)

    def files(self, vid: int) -> list[list[str]]:
        prefix = f"{vid}."
        return [
            sorted(
                n.split("_", 1)[1] for n in os.listdir(d) if n.split("_", 1)[-1].startswith(prefix)
            )
            for d in self.dirs
        ]

    def shards_on_disks(self, vid: int) -> dict[int, int]:
        """The master's view: disk id -> shard bits of ``vid`` on this server."""
        with grpc.insecure_channel(f"127.0.0.1:{self.cluster.master_port + 10000}") as channel:
            topology = (
                master_pb2_grpc.SeaweedStub(channel)
                .VolumeList(master_pb2.VolumeListRequest(), timeout=10)
                .topology_info
            )
        found: dict[int, int] = {}
        for dc in topology.data_center_infos:
            for rack in dc.rack_infos:
                for node in rack.data_node_infos:
                    if not node.id.endswith(f":{self.port}"):
                        continue
                    for disk in node.diskInfos.values():
                        for shards in disk.ec_shard_infos:
                            if shards.id == vid:
                                found[shards.disk_id] = found.get(shards.disk_id, 0) | (
                                    shards.ec_index_bits
                                )
        return found


@pytest.fixture
def sides(tmp_path) -> Iterator[dict[str, Side]]:
    made = {kind: Side(kind, str(tmp_path / kind)) for kind in KINDS}
    try:
        for side in made.values():
            side.cluster.start_master()
            side.start()
        yield made
    finally:
        for side in made.values():
            side.stop()
            side.cluster.stop()


def content(path: str) -> bytes:
    with open(path, "rb") as src:
        return src.read()


def payload(i: int) -> bytes:
    return bytes((i * 31 + j) % 251 for j in range(37_000 * i))


def upload_all(side: Side, vid: int, count: int) -> dict[str, bytes]:
    files = {}
    for i in range(1, count + 1):
        fid = f"{vid},{0x2500 + i:x}aa00000{i}"
        files[fid] = payload(i)
        headers = {"Content-Type": "application/octet-stream"}
        assert http("POST", f"{side.url}/{fid}", files[fid], headers)[0] == 201
    return files


def lifecycle(side: Side) -> dict:
    """Encode on disk 0, mount, drop the .dat; with the server down move shards 0-6 to disk
    1 (the .ecx stays on disk 0); restart, read everything, delete one needle."""
    vid = 9500
    seen: dict = {}
    with side.stub() as stub:
        stub.AllocateVolume(pb.AllocateVolumeRequest(volume_id=vid, collection="m", version=3))
        files = upload_all(side, vid, 5)
        stub.VolumeEcShardsGenerate(pb.VolumeEcShardsGenerateRequest(volume_id=vid, collection="m"))
        stub.VolumeEcShardsMount(
            pb.VolumeEcShardsMountRequest(volume_id=vid, collection="m", shard_ids=list(range(14)))
        )
        stub.VolumeDelete(pb.VolumeDeleteRequest(volume_id=vid))
    side.stop()
    d0, d1 = side.dirs
    for i in range(7):
        os.rename(os.path.join(d0, f"m_{vid}.ec{i:02d}"), os.path.join(d1, f"m_{vid}.ec{i:02d}"))
    side.start()
    seen["files"] = side.files(vid)
    seen["same index files"] = all(
        content(os.path.join(d0, f"m_{vid}{s}")) == content(os.path.join(d1, f"m_{vid}{s}"))
        for s in (".ecx", ".ecj", ".vif")
    )
    with side.stub() as stub:
        info = stub.VolumeEcShardsInfo(pb.VolumeEcShardsInfoRequest(volume_id=vid))
    seen["info"] = (
        [(s.shard_id, s.size) for s in info.ec_shard_infos],
        info.volume_size,
        info.file_count,
        info.file_deleted_count,
    )
    seen["reads"] = [
        (status, body == files[fid])
        for fid in files
        for status, _, body in [http("GET", f"{side.url}/{fid}")]
    ]
    gone = list(files)[2]
    seen["delete"] = (http("DELETE", f"{side.url}/{gone}")[0], http("GET", f"{side.url}/{gone}")[0])
    seen["journals"] = [os.path.getsize(os.path.join(d, f"m_{vid}.ecj")) for d in side.dirs]
    expected = {0: sum(1 << i for i in range(7, 14)), 1: sum(1 << i for i in range(7))}
    seen["master"] = wait_until(
        lambda: (view := side.shards_on_disks(vid)) == expected and view,
        timeout=60,
        what=f"the master to see the shards per disk ({side.kind})",
    )
    return seen


def test_shards_moved_to_a_disk_without_ecx_mount_there_as_in_go(sides) -> None:
    seen = {kind: lifecycle(side) for kind, side in sides.items()}
    assert seen["ours"] == seen["go"]
    assert seen["go"]["files"] == [
        [f"9500.ec{i:02d}" for i in range(7, 14)]
        + ["9500.ecj", "9500.ecsum", "9500.ecx", "9500.vif"],
        [f"9500.ec{i:02d}" for i in range(7)] + ["9500.ecj", "9500.ecx", "9500.vif"],
    ]
    assert seen["go"]["same index files"] is True
    assert [s for s, _ in seen["go"]["info"][0]] == [*range(7, 14), *range(7)]
    assert seen["go"]["reads"] == [(200, True)] * 5
    assert seen["go"]["delete"] == (202, 404)
    assert seen["go"]["journals"] == [8, 0]  # the delete is journalled on the first disk only


def partial_set(side: Side) -> dict:
    """A whole volume on disk 0; disk 1 gets what an encode interrupted elsewhere leaves (one
    shard, .ecx, .ecj, a .vif recording the .dat's size); then a restart."""
    vid = 9501
    with side.stub() as stub:
        stub.AllocateVolume(pb.AllocateVolumeRequest(volume_id=vid, collection="p", version=3))
    files = upload_all(side, vid, 2)
    side.stop()
    d0, d1 = side.dirs
    dat_size = os.path.getsize(os.path.join(d0, f"p_{vid}.dat"))
    base = os.path.join(d1, f"p_{vid}")
    with open(base + ".ec01", "wb") as out:
        out.truncate(shard_size(dat_size, 10))
    with open(base + ".ecx", "wb") as out:
        out.write(b"dummy ecx")
    open(base + ".ecj", "wb").close()
    save_volume_info(
        base + ".vif",
        VolumeInfo(
            version=3, dat_file_size=dat_size, ec_shard_config={"dataShards": 10, "parityShards": 4}
        ),
    )
    side.start()
    seen: dict = {}
    # Go's server answers before its start-up pass has removed the leftovers.
    seen["files"] = wait_until(
        lambda: (now := side.files(vid))[1] == ["9501.vif"] and now,
        what=f"the partial set to go ({side.kind})",
    )
    with side.stub() as stub:
        with pytest.raises(grpc.RpcError) as refused:
            stub.VolumeEcShardsInfo(pb.VolumeEcShardsInfoRequest(volume_id=vid))
    seen["info"] = refused.value.details()
    seen["reads"] = [
        (status, body == files[fid])
        for fid in files
        for status, _, body in [http("GET", f"{side.url}/{fid}")]
    ]
    return seen


def test_a_partial_set_beside_a_whole_sibling_dat_is_removed_as_in_go(sides) -> None:
    seen = {kind: partial_set(side) for kind, side in sides.items()}
    assert seen["ours"] == seen["go"]
    assert seen["go"]["files"] == [["9501.dat", "9501.idx", "9501.vif"], ["9501.vif"]]
    assert seen["go"]["info"] == "VolumeEcShardsInfo: EC volume 9501 not found"
    assert seen["go"]["reads"] == [(200, True)] * 2
