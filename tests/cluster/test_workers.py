"""``-workers=2`` against a real Go master: two HTTP worker processes and one gRPC/heartbeat
process behave as one server. Connections are pinned to a known worker by asking the kernel
(``ss``) which process owns their server end, so "another worker" is checked, not hoped for."""

from __future__ import annotations

import http.client as httpclient
import json
import os
import re
import signal
import subprocess
import threading

import grpc
import pytest

from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from tests.support.go_cluster import GoCluster, free_port_pair, http, wait_until
from tests.support.our_server import OurServer, our_binary

WORKERS = 2
HEADERS = {"Content-Type": "application/octet-stream"}


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as src:
        return [int(p) for p in src.read().split()]


def connection_owner(port: int, client_port: int) -> int:
    """The pid of the process holding the server end of a loopback connection."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in out.splitlines():
        fields = line.split()
        if fields[3].endswith(f":{client_port}"):
            return int(re.search(r"pid=(\d+)", line).group(1))
    raise AssertionError(f"no server end for client port {client_port}:\n{out}")


class Pinned:
    """A keep-alive connection and the worker that serves it."""

    def __init__(self, ours: OurServer) -> None:
        self.connection = httpclient.HTTPConnection("127.0.0.1", ours.port, timeout=30)
        self.connection.connect()
        client_port = self.connection.sock.getsockname()[1]
        self.worker = wait_until(
            lambda: _owner_or_none(ours.port, client_port), what="the connection's worker"
        )

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        self.connection.request(method, path, body, HEADERS if body is not None else {})
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


def _owner_or_none(port: int, client_port: int) -> int | None:
    try:
        return connection_owner(port, client_port)
    except AssertionError:
        return None


def one_per_worker(ours: OurServer) -> list[Pinned]:
    """Open connections until every worker holds one; keep one per worker."""
    workers = set(children(ours.process.pid)) - {authority_pid(ours)}
    kept: dict[int, Pinned] = {}
    spare = []
    for _ in range(200):
        pinned = Pinned(ours)
        if pinned.worker in kept:
            spare.append(pinned)
        else:
            kept[pinned.worker] = pinned
        if set(kept) == workers:
            break
    for pinned in spare:
        pinned.close()
    assert set(kept) == workers, f"connections reached {set(kept)} of {workers}"
    return list(kept.values())


def authority_pid(ours: OurServer) -> int:
    """The child that serves gRPC (listens on the gRPC port)."""
    out = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{ours.port + 10000}"], capture_output=True, text=True
    ).stdout
    return int(re.search(r"pid=(\d+)", out).group(1))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    workdir = str(tmp_path_factory.mktemp("workers"))
    go = GoCluster(workdir)
    with go.running():
        go.start_master(volume_size_limit_mb=64)
        ours = OurServer(
            os.path.join(workdir, "ours"),
            go.master_port,
            os.path.join(workdir, "ours.log"),
            extra=[
                f"-workers={WORKERS}",
                "-offsetBytes=5",
                "-max=16",
                f"-metricsPort={free_port_pair()}",
            ],
        )
        ours.start()
        try:
            ours.wait_registered(go.master_url)
            yield go, ours
        finally:
            ours.stop()


def started_with_workers(
    go: GoCluster, data_dir: str, log_path: str, *extra: str, port: int | None = None
) -> OurServer:
    """A server of our own beside the module's, with two workers at Go's PyPI offset width."""
    ours = OurServer(
        data_dir,
        go.master_port,
        log_path,
        extra=[f"-workers={WORKERS}", "-offsetBytes=5", *extra],
        **({"port": port} if port is not None else {}),
    )
    ours.start()
    return ours


def grow(go: GoCluster, collection: str) -> int:
    """A new volume of its own collection, allocated by the master on our server."""
    status, _, body = http("GET", f"{go.master_url}/vol/grow?count=1&collection={collection}")
    assert status == 200, body
    return int(go.assign(collection=collection)["fid"].split(",")[0])


def stub(ours: OurServer) -> pb_grpc.VolumeServerStub:
    return pb_grpc.VolumeServerStub(grpc.insecure_channel(f"127.0.0.1:{ours.port + 10000}"))


def test_a_write_or_delete_on_one_worker_is_seen_on_the_other_at_once(cluster) -> None:
    go, ours = cluster
    vid = grow(go, "seen")
    a, b = one_per_worker(ours)
    assert a.worker != b.worker
    for i in range(1, 201):
        writer, reader = (a, b) if i % 2 else (b, a)
        path = f"/{vid},{i:x}0000beef"
        body = f"item {i} ".encode() * (i % 13 + 1)
        assert writer.request("POST", path, body)[0] == 201
        assert reader.request("GET", path) == (200, body)
        if i % 3 == 0:
            assert reader.request("DELETE", path)[0] == 202
            assert writer.request("GET", path)[0] == 404
    for pinned in (a, b):
        pinned.close()


def test_admin_changes_reach_every_worker_before_the_rpc_answers(cluster) -> None:
    go, ours = cluster
    vid = grow(go, "admin")
    rpc = stub(ours)
    pinned = one_per_worker(ours)
    for i, conn in enumerate(pinned):
        assert conn.request("POST", f"/{vid},{i + 1:x}0000beef", b"before")[0] == 201

    rpc.VolumeMarkReadonly(pb.VolumeMarkReadonlyRequest(volume_id=vid))
    for i, conn in enumerate(pinned):
        assert conn.request("POST", f"/{vid},{i + 50:x}0000beef", b"refused")[0] != 201
        assert conn.request("GET", f"/{vid},10000beef") == (200, b"before")
    rpc.VolumeMarkWritable(pb.VolumeMarkWritableRequest(volume_id=vid))
    for i, conn in enumerate(pinned):
        assert conn.request("POST", f"/{vid},{i + 60:x}0000beef", b"writable")[0] == 201

    # vacuum: garbage on one worker, compaction by the authority, reads and writes on all
    for i in range(100, 160):
        assert pinned[i % 2].request("POST", f"/{vid},{i:x}0000beef", b"g" * 2000)[0] == 201
        assert pinned[(i + 1) % 2].request("DELETE", f"/{vid},{i:x}0000beef")[0] == 202
    before = json.loads(pinned[0].request("GET", "/status")[1])
    list(rpc.VacuumVolumeCompact(pb.VacuumVolumeCompactRequest(volume_id=vid)))
    rpc.VacuumVolumeCommit(pb.VacuumVolumeCommitRequest(volume_id=vid))
    for i, conn in enumerate(pinned):
        assert conn.request("GET", f"/{vid},10000beef") == (200, b"before")
        assert conn.request("GET", f"/{vid},640000beef")[0] == 404
        assert conn.request("POST", f"/{vid},{i + 70:x}0000beef", b"after vacuum")[0] == 201
    for i in range(len(pinned)):
        other = pinned[(i + 1) % len(pinned)]
        assert other.request("GET", f"/{vid},{i + 70:x}0000beef") == (200, b"after vacuum")
    after = json.loads(pinned[1].request("GET", "/status")[1])
    size = {v["Id"]: v["Size"] for v in before["Volumes"]}[vid]
    assert {v["Id"]: v["Size"] for v in after["Volumes"]}[vid] < size

    rpc.VolumeUnmount(pb.VolumeUnmountRequest(volume_id=vid))
    for conn in pinned:
        assert conn.request("GET", f"/{vid},10000beef")[0] == 404
    rpc.VolumeMount(pb.VolumeMountRequest(volume_id=vid))
    for conn in pinned:
        assert conn.request("GET", f"/{vid},10000beef") == (200, b"before")
    rpc.VolumeDelete(pb.VolumeDeleteRequest(volume_id=vid))
    for conn in pinned:
        assert conn.request("GET", f"/{vid},10000beef")[0] == 404
        conn.close()


def test_a_killed_worker_is_replaced_and_loses_no_acknowledged_write(cluster) -> None:
    go, ours = cluster
    vid = grow(go, "killed")
    acknowledged: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def write(thread: int) -> None:
        i = 0
        while not stop.is_set() and i < 2000:
            i += 1
            path = f"/{vid},{thread:x}{i:06x}0000beef"
            body = f"{thread}/{i}".encode() * 20
            try:
                status, _, _ = http("POST", f"{ours.url}{path}", body, HEADERS, timeout=10)
            except OSError:
                continue  # the worker holding this connection died: not acknowledged
            if status == 201:
                with lock:
                    acknowledged[path] = body

    threads = [threading.Thread(target=write, args=(t + 1,)) for t in range(4)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(acknowledged) > 200, what="writes to flow")
    victim = next(pid for pid in children(ours.process.pid) if pid != authority_pid(ours))
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: (
            len(children(ours.process.pid)) == WORKERS + 1
            and victim not in children(ours.process.pid)
        ),
        what="a replacement worker",
    )
    count = len(acknowledged)
    wait_until(lambda: len(acknowledged) > count + 200, what="writes to flow again")
    stop.set()
    for thread in threads:
        thread.join()
    for path, body in acknowledged.items():
        assert http("GET", f"{ours.url}{path}")[::2] == (200, body), path
    assert "killed by signal 9; starting another" in ours.log_tail(200)


def test_a_second_server_on_the_same_ports_is_refused(cluster, tmp_path) -> None:
    go, ours = cluster
    result = subprocess.run(
        [
            our_binary(),
            "-ip=127.0.0.1",
            f"-port={ours.port}",
            f"-port.grpc={free_port_pair() + 10000}",
            f"-dir={tmp_path}",
            f"-master=127.0.0.1:{go.master_port}",
            f"-workers={WORKERS}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"-port={ours.port}: cannot listen" in result.stderr


def test_appends_from_every_worker_at_once_make_files_go_reads(cluster, tmp_path) -> None:
    go, _ = cluster
    data_dir = str(tmp_path / "shared")
    ours = started_with_workers(go, data_dir, str(tmp_path / "ours.log"))
    vid = 900
    try:
        stub(ours).AllocateVolume(pb.AllocateVolumeRequest(volume_id=vid, version=3))
        writers = one_per_worker(ours) + one_per_worker(ours)  # two connections per worker
        expected: dict[str, bytes | None] = {}
        lock = threading.Lock()

        def write(number: int, conn: Pinned) -> None:
            for i in range(1, 151):
                path = f"/{vid},{number:x}{i:04x}0000beef"
                body = f"writer {number} item {i} ".encode() * (1 + (i * number) % 40)
                assert conn.request("POST", path, body)[0] == 201
                deleted = i % 7 == 0
                if deleted:
                    assert conn.request("DELETE", path)[0] == 202
                with lock:
                    expected[path] = None if deleted else body

        threads = [
            threading.Thread(target=write, args=(n + 1, conn)) for n, conn in enumerate(writers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for conn in writers:
            conn.close()
    finally:
        assert ours.stop() == 0
    assert len(expected) == 150 * len(writers)
    go_volume = go.start_volume(data_dir)
    try:
        for path, body in expected.items():
            status, _, got = http("GET", f"{go.volume_url}{path}")
            assert (status, got) == ((404, got) if body is None else (200, body)), path
    finally:
        go_volume.stop()
        go.processes.remove(go_volume)


def metric(ours: OurServer, line_start: str) -> float:
    port = next(a.split("=")[1] for a in ours.extra if a.startswith("-metricsPort="))
    _, _, body = http("GET", f"http://127.0.0.1:{port}/metrics")
    for line in body.decode().splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_the_requests_of_every_worker(cluster) -> None:
    go, ours = cluster
    vid = grow(go, "metrics")
    series = 'SeaweedFS_volumeServer_request_total{code="201",type="POST"}'
    before = metric(ours, series)
    pinned = one_per_worker(ours)
    for round_number in range(10):
        for i, conn in enumerate(pinned):
            path = f"/{vid},{round_number * 10 + i + 1:x}0000beef"
            assert conn.request("POST", path, b"counted")[0] == 201
    sent = 10 * len(pinned)
    # workers hand their counters over every second: wait for them, then nothing more comes
    wait_until(lambda: metric(ours, series) == before + sent, what="every worker's counts")
    victim = pinned[0].worker
    for conn in pinned:
        conn.close()
    os.kill(victim, signal.SIGKILL)  # a dead worker's counts stay in the total
    wait_until(lambda: victim not in children(ours.process.pid), what="the worker to go")
    wait_until(lambda: len(children(ours.process.pid)) == WORKERS + 1, what="a replacement worker")
    assert metric(ours, series) == before + sent


def test_status_on_every_worker_lists_a_volume_allocated_a_moment_ago(cluster) -> None:
    go, ours = cluster
    pinned = one_per_worker(ours)
    for conn in pinned:
        conn.request("GET", "/status")  # each worker has answered before the allocation
    vid = 7001  # beyond what the master hands out in this module
    stub(ours).AllocateVolume(pb.AllocateVolumeRequest(volume_id=vid, version=3))
    for conn in pinned:
        status, body = conn.request("GET", "/status")
        assert vid in [v["Id"] for v in json.loads(body)["Volumes"]]
    stub(ours).VolumeDelete(pb.VolumeDeleteRequest(volume_id=vid))
    for conn in pinned:
        assert vid not in [
            v["Id"] for v in json.loads(conn.request("GET", "/status")[1])["Volumes"] or []
        ]
        conn.close()


def test_a_graceful_stop_reports_unhealthy_keeps_serving_then_ends_every_process(
    cluster, tmp_path
) -> None:
    """Go's order with every worker: SIGTERM, /healthz 503 at once while files are still
    served for -preStopSeconds, then every process exits and the supervisor with 0."""
    go, _ = cluster
    ours = started_with_workers(
        go, str(tmp_path / "stopping"), str(tmp_path / "ours.log"), "-preStopSeconds=3"
    )
    vid = 902
    stub(ours).AllocateVolume(pb.AllocateVolumeRequest(volume_id=vid, version=3))
    pinned = one_per_worker(ours)
    for i, conn in enumerate(pinned):
        assert conn.request("POST", f"/{vid},{i + 1:x}0000beef", b"kept")[0] == 201
    processes = [ours.process.pid, *children(ours.process.pid)]
    ours.process.send_signal(signal.SIGTERM)
    for i, conn in enumerate(pinned):
        wait_until(lambda c=conn: c.request("GET", "/healthz")[0] == 503, what="unhealthy")
        assert conn.request("GET", f"/{vid},{i + 1:x}0000beef") == (200, b"kept")
    assert ours.process.wait(timeout=60) == 0
    for pid in processes:
        assert not os.path.exists(f"/proc/{pid}"), pid  # every process ended and was reaped


def test_children_end_with_a_killed_supervisor_and_the_ports_are_free_again(
    cluster, tmp_path
) -> None:
    """kill -9 of the supervisor takes every worker and the authority with it, so nothing
    serves a stale view on the inherited sockets and a restart can bind the ports."""
    go, _ = cluster
    data_dir = str(tmp_path / "orphans")
    ours = started_with_workers(go, data_dir, str(tmp_path / "ours.log"), "-preStopSeconds=10")
    children_before = children(ours.process.pid)
    assert len(children_before) == WORKERS + 1
    ours.process.kill()
    ours.process.wait(timeout=30)
    for pid in children_before:
        wait_until(lambda p=pid: not os.path.exists(f"/proc/{p}"), what=f"child {pid} to end")
    restarted = started_with_workers(go, data_dir, str(tmp_path / "again.log"), port=ours.port)
    try:
        assert http("GET", f"{restarted.url}/status")[0] == 200
    finally:
        assert restarted.stop() == 0
