"""kill -9 of our volume server (a real subprocess under a real Go master): under concurrent plain
and ``?fsync=true`` writes and deletes (with the ``memory`` and the ``sqlite`` needle map), and
at each stage of a vacuum. After a restart every acknowledged write, and every needle live
before the vacuum, reads back; deleted ones stay deleted; the volumes stay writable; and Go's
volume server opens the repaired directory and serves the same.

Compaction is throttled (``-compactionMBps=1``) so that a kill can land inside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import threading
from collections.abc import Collection, Iterator

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from tests.support.go_cluster import GoCluster, http, wait_until
from tests.support.our_server import OurServer

pytestmark = pytest.mark.hardening

WRITES_PER_WRITER = 300
KILL_AFTER = 150
"""Acknowledged writes (over all writers) before the kill."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GoCluster, OurServer]]:
    workdir = str(tmp_path_factory.mktemp("kill_9"))
    go = GoCluster(workdir)
    with go.running():
        go.start_master(volume_size_limit_mb=64)
        ours = OurServer(
            os.path.join(workdir, "ours"),
            go.master_port,
            os.path.join(workdir, "ours.log"),
            # 5-byte offsets as the PyPI Go build, so that Go can open what we leave.
            extra=["-max=16", "-compactionMBps=1", "-offsetBytes=5"],
        )
        ours.start()
        try:
            ours.wait_registered(go.master_url)
            yield go, ours
        finally:
            ours.stop()


def _restart(go: GoCluster, ours: OurServer) -> None:
    ours.start()
    ours.wait_registered(go.master_url)


def _volumes(ours: OurServer) -> dict[int, dict]:
    return {v["Id"]: v for v in json.loads(http("GET", f"{ours.url}/status")[2])["Volumes"] or []}


def _post(ours: OurServer, fid: str, data: bytes, query: str = "") -> int:
    headers = {"Content-Type": "application/x-test"}
    return http("POST", f"{ours.url}/{fid}{query}", data, headers, timeout=10)[0]


def _assert_reads(ours: OurServer, live: dict[str, bytes], deleted: Collection[str] = ()) -> None:
    for fid, data in live.items():
        status, _, body = http("GET", f"{ours.url}/{fid}")
        assert (status, body == data) == (200, True), (fid, status, ours.log_tail())
    for fid in deleted:
        assert http("GET", f"{ours.url}/{fid}")[0] == 404, fid


@pytest.mark.parametrize("index", ["memory", "sqlite"])
def test_kill_9_under_plain_and_fsync_writes(
    cluster: tuple[GoCluster, OurServer], index: str
) -> None:
    """Two plain and two ``fsync=true`` writers, each deleting every tenth file it wrote."""
    go, ours = cluster
    flags = list(ours.extra)
    if index != "memory":
        ours.stop()
        ours.extra = [*flags, f"-index={index}"]
        _restart(go, ours)
    try:
        acknowledged, deleted = _write_kill_and_read_back(go, ours)
        if index == "memory":
            _go_serves_what_we_repaired(ours, acknowledged, deleted)
    finally:
        if index != "memory":
            ours.stop()
            ours.extra = flags
            _restart(go, ours)


def _write_kill_and_read_back(go: GoCluster, ours: OurServer) -> tuple[dict[str, bytes], set[str]]:
    acknowledged: dict[str, bytes] = {}
    deleted: set[str] = set()
    in_doubt: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(query: str, seed: int, assigned: dict) -> None:
        rng = random.Random(seed)
        for i in range(WRITES_PER_WRITER):
            if stop.is_set():
                return
            fid = f"{assigned['fid']}_{i}" if i else assigned["fid"]
            data = rng.randbytes(rng.randint(1, 32 * 1024))
            try:
                if _post(ours, fid, data, query) != 201:
                    return
                with lock:
                    acknowledged[fid] = data
                if i % 10 == 9:
                    with lock:  # until the delete is acknowledged, either answer is right
                        in_doubt[fid] = acknowledged.pop(fid)
                    if http("DELETE", f"{ours.url}/{fid}{query}", timeout=10)[0] != 202:
                        return
                    with lock:
                        deleted.add(fid)
                        del in_doubt[fid]
            except OSError:
                return

    writers = [  # ids assigned up front: the master cannot assign once the server is gone
        threading.Thread(target=writer, args=(query, seed, go.assign(count=str(WRITES_PER_WRITER))))
        for seed, query in enumerate(["", "", "?fsync=true", "?fsync=true"])
    ]
    for thread in writers:
        thread.start()
    try:
        wait_until(lambda: len(acknowledged) >= KILL_AFTER, what="writes to be acknowledged")
    finally:
        ours.stop(sig=signal.SIGKILL)
        stop.set()
        for thread in writers:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in writers)
    assert deleted

    _restart(go, ours)
    _assert_reads(ours, dict(acknowledged), set(deleted))
    for fid, data in in_doubt.items():  # a delete the kill cut short: done or not, not torn
        status, _, body = http("GET", f"{ours.url}/{fid}")
        assert status == 404 or (status, body) == (200, data), fid
    read_only = [vid for vid, v in _volumes(ours).items() if v["ReadOnly"]]
    assert not read_only, ours.log_tail()
    return dict(acknowledged), set(deleted)


def _go_serves_what_we_repaired(
    ours: OurServer, acknowledged: dict[str, bytes], deleted: set[str]
) -> None:
    """Go's volume server, on a copy of the directory our restart repaired, loads every
    volume writable and serves the same files (under a master of its own)."""
    workdir = os.path.dirname(ours.data_dir)
    copy = os.path.join(workdir, "go_copy")
    shutil.copytree(ours.data_dir, copy, ignore=shutil.ignore_patterns("*.nmdb*"))
    alone = GoCluster(os.path.join(workdir, "go_alone"))
    os.makedirs(alone.workdir)
    with alone.running():
        alone.start_master()  # Go's volume server does not serve before it has one
        alone.start_volume(copy, extra=["-preStopSeconds=0", "-max=16"])
        volumes = json.loads(http("GET", f"{alone.volume_url}/status")[2])["Volumes"] or []
        assert {v["Id"] for v in volumes} == set(_volumes(ours))
        assert not [v["Id"] for v in volumes if v["ReadOnly"]], alone.processes[0].log_tail()
        for fid, data in acknowledged.items():
            status, _, body = http("GET", f"{alone.volume_url}/{fid}")
            assert (status, body == data) == (200, True), fid
        for fid in deleted:
            assert http("GET", f"{alone.volume_url}/{fid}")[0] == 404, fid


def _fill(go: GoCluster, ours: OurServer, collection: str, count: int) -> dict[str, bytes]:
    status, _, body = http("GET", f"{go.master_url}/vol/grow?count=1&collection={collection}")
    assert status == 200, body
    first = go.assign(collection=collection, count=str(count))
    rng = random.Random(collection)
    files = {}
    for i in range(count):
        fid = f"{first['fid']}_{i}" if i else first["fid"]
        files[fid] = rng.randbytes(rng.randint(4 * 1024, 16 * 1024))
        assert _post(ours, fid, files[fid]) == 201
    return files


@contextlib.contextmanager
def _stub(ours: OurServer) -> Iterator[pb_grpc.VolumeServerStub]:
    with grpc.insecure_channel(f"127.0.0.1:{ours.port + 10000}") as channel:
        yield pb_grpc.VolumeServerStub(channel)


def _compact(stub: pb_grpc.VolumeServerStub, vid: int) -> None:
    list(stub.VacuumVolumeCompact(pb.VacuumVolumeCompactRequest(volume_id=vid)))


def test_kill_9_at_each_stage_of_a_vacuum(cluster: tuple[GoCluster, OurServer]) -> None:
    """The Vacuum RPCs the master sends, one by one (``weed shell volume.vacuum`` waits out
    the master's first half minute, too long here)."""
    go, ours = cluster
    files = _fill(go, ours, "vacuumed", 300)
    vid = int(next(iter(files)).split(",")[0])
    base = os.path.join(ours.data_dir, f"vacuumed_{vid}")
    deleted = set(list(files)[::3]) | set(list(files)[1::3])
    for fid in deleted:
        assert http("DELETE", f"{ours.url}/{fid}")[0] == 202
    live = {fid: data for fid, data in files.items() if fid not in deleted}

    # 1. Killed while .cpd is being written (the copy runs at 1 MB/s).
    with _stub(ours) as stub:
        outcome: list[str] = []
        compaction = threading.Thread(target=_compact_until_killed, args=(stub, vid, outcome))
        compaction.start()
        try:
            wait_until(lambda: os.path.exists(base + ".cpd"), what="the compaction to start")
            for key in range(0x100000, 0x100000 + 10):  # writes land in the old files meanwhile
                fid = f"{vid},{key:x}abcdef01"
                live[fid] = f"written while compacting {key}".encode()
                assert _post(ours, fid, live[fid]) == 201
        finally:
            ours.stop(sig=signal.SIGKILL)
            compaction.join(timeout=30)
    assert outcome == ["killed"]
    _restart(go, ours)
    _assert_reads(ours, live, deleted)
    assert not os.path.exists(base + ".cpd") and not os.path.exists(base + ".cpx")

    # 2. Compaction finished, never committed.
    with _stub(ours) as stub:
        _compact(stub, vid)
    ours.stop(sig=signal.SIGKILL)
    _restart(go, ours)
    _assert_reads(ours, live, deleted)

    # 3. Killed as the commit runs, with writes since the compaction to make up: whichever
    # side of the swap the kill lands on, nothing is lost.
    with _stub(ours) as stub:
        _compact(stub, vid)
        for fid in list(live)[:20]:
            live[fid] = b"rewritten after the compaction " + fid.encode()
            assert _post(ours, fid, live[fid]) == 201
        commit = stub.VacuumVolumeCommit.future(pb.VacuumVolumeCommitRequest(volume_id=vid))
        ours.stop(sig=signal.SIGKILL)
        with contextlib.suppress(grpc.RpcError):  # the server may have died first
            commit.result(timeout=30)
    _restart(go, ours)
    _assert_reads(ours, live, deleted)
    assert not _volumes(ours)[vid]["ReadOnly"]

    # 4. A whole vacuum still goes through afterwards, and the volume takes writes.
    revision = _volumes(ours)[vid]["CompactRevision"]
    with _stub(ours) as stub:
        _compact(stub, vid)
        stub.VacuumVolumeCommit(pb.VacuumVolumeCommitRequest(volume_id=vid))
        stub.VacuumVolumeCleanup(pb.VacuumVolumeCleanupRequest(volume_id=vid))
    assert _volumes(ours)[vid]["CompactRevision"] == revision + 1
    _assert_reads(ours, live, deleted)
    assert _post(ours, f"{vid},{0xFFFFFF:x}12345678", b"written after it all") == 201


def _compact_until_killed(stub: pb_grpc.VolumeServerStub, vid: int, outcome: list[str]) -> None:
    try:
        _compact(stub, vid)
    except grpc.RpcError:
        outcome.append("killed")
    else:
        outcome.append("finished")
