"""A Go 4.48 master whose only volume server is ours, driven by Go's own clients."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import threading
import urllib.error
import urllib.request

import pytest

from tests.support.go_cluster import (
    GoCluster,
    GoProcess,
    free_port_pair,
    http,
    wait_until,
    weed_binary,
)
from tests.support.our_server import OurServer


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    workdir = str(tmp_path_factory.mktemp("cluster"))
    go = GoCluster(workdir)
    with go.running():
        go.start_master(volume_size_limit_mb=64)
        ours = OurServer(
            os.path.join(workdir, "ours"),
            go.master_port,
            os.path.join(workdir, "ours.log"),
            extra=["-max=24"],  # room for the collections the tests grow (7 volumes each)
        )
        ours.start()
        try:
            ours.wait_registered(go.master_url)
            yield go, ours
        finally:
            ours.stop()


def weed(*args: str, timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [weed_binary(), *args], capture_output=True, text=True, timeout=timeout, input=stdin
    )


def shell(go: GoCluster, commands: str) -> str:
    result = weed("shell", f"-master=127.0.0.1:{go.master_port}", stdin=commands + "\nexit\n")
    return result.stdout + result.stderr


def test_upload_download_round_trip(cluster, tmp_path) -> None:
    go, ours = cluster
    payload = random.Random(3).randbytes(3 * 1024 * 1024 + 17)
    source = tmp_path / "big.bin"
    source.write_bytes(payload)
    result = weed("upload", f"-master=127.0.0.1:{go.master_port}", str(source))
    assert result.returncode == 0, result.stderr
    fid = json.loads(result.stdout)[0]["fid"]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = weed("download", f"-server=127.0.0.1:{go.master_port}", f"-dir={out_dir}", fid)
    assert result.returncode == 0, result.stderr + result.stdout
    downloaded = list(out_dir.iterdir())
    assert len(downloaded) == 1 and downloaded[0].read_bytes() == payload


def test_benchmark_has_no_failures(cluster) -> None:
    go, _ = cluster
    result = weed(
        "benchmark",
        f"-master=127.0.0.1:{go.master_port}",
        "-c=4",
        "-n=400",
        "-size=1024",
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    failed = [int(n) for n in re.findall(r"Failed requests:\s+(\d+)", output)]
    assert len(failed) == 2 and failed == [0, 0], output


def test_volume_list_shows_our_node(cluster) -> None:
    go, ours = cluster
    output = shell(go, "volume.list")
    assert ours.address in output, output
    assert re.search(r"volume id:\d+", output) or "id:" in output, output


def test_mark_readonly_and_writable(cluster) -> None:
    go, ours = cluster
    status = json.loads(http("GET", f"{ours.url}/status")[2])
    vid = status["Volumes"][0]["Id"]
    output = shell(go, f"lock\nvolume.mark -node={ours.address} -volumeId={vid} -readonly\nunlock")
    wait_until(lambda: _read_only(ours, vid), what="volume to become read only")
    upload = http("POST", f"{ours.url}/{vid},0a12345678", b"data", {"Content-Type": "text/plain"})
    assert upload[0] == 500, output
    shell(go, f"lock\nvolume.mark -node={ours.address} -volumeId={vid} -writable\nunlock")
    wait_until(lambda: not _read_only(ours, vid), what="volume to become writable")
    upload = http("POST", f"{ours.url}/{vid},0a12345678", b"data", {"Content-Type": "text/plain"})
    assert upload[0] == 201


def _read_only(ours: OurServer, vid: int) -> bool:
    status = json.loads(http("GET", f"{ours.url}/status")[2])
    return any(v["Id"] == vid and v["ReadOnly"] for v in status["Volumes"])


def test_kill_9_during_writes_keeps_acknowledged_writes(cluster) -> None:
    go, ours = cluster
    batch = 2000
    assign = go.assign(count=str(batch))  # reserves the ids fid, fid_1 ... fid_1999
    acknowledged: dict[str, bytes] = {}
    stop = threading.Event()

    def writer() -> None:
        for i in range(batch):
            if stop.is_set():
                return
            fid = f"{assign['fid']}_{i}" if i else assign["fid"]
            data = f"acknowledged {i}".encode() * 10
            try:
                status, _, _ = http(
                    "POST",
                    f"{ours.url}/{fid}",
                    data,
                    {"Content-Type": "application/x-test"},
                    timeout=5,
                )
            except OSError:
                return
            if status != 201:
                return
            acknowledged[fid] = data

    thread = threading.Thread(target=writer)
    thread.start()
    wait_until(lambda: len(acknowledged) >= 200, what="writes to be acknowledged")
    ours.stop(sig=signal.SIGKILL)
    stop.set()
    thread.join(timeout=30)
    ours.start()
    ours.wait_registered(go.master_url)
    for fid, data in list(acknowledged.items()):
        status, _, body = http("GET", f"{ours.url}/{fid}")
        assert (status, body) == (200, data), fid


def test_node_registers_again_after_master_restart(cluster) -> None:
    go, ours = cluster
    master = go.processes[0]
    master.stop()
    master.start()
    wait_until(lambda: http("GET", f"{go.master_url}/cluster/status")[0] == 200, what="master")
    ours.wait_registered(go.master_url, volumes=len(_volumes(ours)))


def _volumes(ours: OurServer) -> dict[int, dict]:
    return {v["Id"]: v for v in json.loads(http("GET", f"{ours.url}/status")[2])["Volumes"] or []}


def _fill_one_volume(
    go: GoCluster, count: int, collection: str = ""
) -> tuple[int, dict[str, bytes]]:
    """Upload ``count`` files into the volume of the first assignment."""
    if collection:
        status, _, body = http("GET", f"{go.master_url}/vol/grow?count=1&collection={collection}")
        assert status == 200, body
    first = go.assign(collection=collection) if collection else go.assign()
    vid = int(first["fid"].split(",")[0])
    files: dict[str, bytes] = {}
    key = int(first["fid"].split(",")[1][:-8], 16)
    cookie = first["fid"].split(",")[1][-8:]
    for i in range(count):
        fid = f"{vid},{key + i:x}{cookie}"
        data = f"file {i} ".encode() * 200
        status, _, _ = http(
            "POST", f"http://{first['url']}/{fid}", data, {"Content-Type": "application/x-test"}
        )
        assert status == 201
        files[fid] = data
    return vid, files


def test_vacuum_shrinks_and_live_needles_read(cluster) -> None:
    go, ours = cluster
    # A collection of its own: other tests' uploads (a 3 MB file) in the same volume would keep
    # its garbage ratio under the threshold and the master would rightly skip it.
    vid, files = _fill_one_volume(go, 40, collection="vacuumed")
    doomed = list(files)[:30]
    for fid in doomed:
        assert http("DELETE", f"{ours.url}/{fid}")[0] == 202
    before = _volumes(ours)[vid]

    output = ""

    def vacuumed() -> bool:
        # The master skips the request while another (automatic) vacuum runs: ask again.
        nonlocal output
        output = shell(go, f"lock\nvolume.vacuum -garbageThreshold=0.1 -volumeId={vid}\nunlock")
        return _volumes(ours)[vid]["CompactRevision"] > before["CompactRevision"]

    try:
        wait_until(vacuumed, timeout=60, what="the vacuum to commit")
    except TimeoutError as err:
        raise AssertionError(f"{err}; last shell output: {output!r}; volume: {before}") from err
    dat = os.path.join(ours.data_dir, f"vacuumed_{vid}.dat")
    assert os.path.getsize(dat) < before["Size"], output
    for fid, data in files.items():
        status, _, body = http("GET", f"{ours.url}/{fid}")
        assert (status, body) == ((404, b"") if fid in doomed else (200, data)), fid


def test_unmount_mount_configure_and_delete(cluster) -> None:
    go, ours = cluster
    vid, files = _fill_one_volume(go, 3)
    fid, data = next(iter(files.items()))
    node = ours.address
    shell(go, f"lock\nvolume.unmount -node={node} -volumeId={vid}\nunlock")
    wait_until(lambda: vid not in _volumes(ours), what="unmount")
    assert http("GET", f"{ours.url}/{fid}")[0] == 404
    shell(go, f"lock\nvolume.mount -node={node} -volumeId={vid}\nunlock")
    wait_until(lambda: vid in _volumes(ours), what="mount")
    assert http("GET", f"{ours.url}/{fid}")[2] == data
    output = shell(
        go, f"lock\nvolume.configure.replication -volumeId={vid} -replication=001\nunlock"
    )
    wait_until(
        lambda: _volumes(ours).get(vid, {}).get("ReplicaPlacement") == {"node": 1},
        what=f"replication 001 ({output})",
    )
    assert http("GET", f"{ours.url}/{fid}")[2] == data
    shell(go, f"lock\nvolume.delete -node={node} -volumeId={vid}\nunlock")
    wait_until(lambda: vid not in _volumes(ours), what="delete")
    assert not os.path.exists(os.path.join(ours.data_dir, f"vacuumed_{vid}.dat"))


def test_master_sees_new_volumes_through_delta_heartbeats(cluster) -> None:
    go, ours = cluster
    before = len(_volumes(ours))
    status, _, body = http("GET", f"{go.master_url}/vol/grow?count=1&collection=grown")
    assert status == 200, body
    ours.wait_registered(go.master_url, volumes=before + 1)
    grown = [v for v in _volumes(ours).values() if v["Collection"] == "grown"]
    assert len(grown) == 1


def test_public_port_is_read_only_and_sigterm_stops_cleanly(tmp_path) -> None:
    go = GoCluster(str(tmp_path))
    with go.running():
        go.start_master()
        public_port = free_port_pair()
        ours = OurServer(
            str(tmp_path / "data"),
            go.master_port,
            str(tmp_path / "ours.log"),
            extra=[f"-port.public={public_port}"],
        )
        ours.start()
        try:
            ours.wait_registered(go.master_url)
            assign = go.assign()
            fid = assign["fid"]
            assert (
                http("POST", f"{ours.url}/{fid}", b"stored", {"Content-Type": "text/plain"})[0]
                == 201
            )
            public = f"http://127.0.0.1:{public_port}"
            assert http("GET", f"{public}/{fid}")[2] == b"stored"
            status, _, body = http(
                "POST", f"{public}/{fid}", b"nope", {"Content-Type": "text/plain"}
            )
            assert (status, body) == (200, b"")
            assert http("DELETE", f"{public}/{fid}")[0] == 200
            assert http("GET", f"{ours.url}/{fid}")[2] == b"stored"
        finally:
            code = ours.stop(signal.SIGTERM)
        assert code == 0, ours.log_tail()
        assert "volume server stopped" in ours.log_tail()


def test_read_modes_proxy_and_redirect_to_the_replica(tmp_path) -> None:
    """Ours serves a volume it does not hold: proxied (default) or a 301, found via the master."""
    go = GoCluster(str(tmp_path))
    os.makedirs(tmp_path / "go-data")
    with go.running():
        go.start_master()
        go.start_volume(str(tmp_path / "go-data"))
        wait_until(
            lambda: http("GET", f"{go.master_url}/vol/grow?count=1")[0] == 200,
            what="the master to grow a volume on Go's server",
        )
        wait_until(lambda: _volumes_at(go.volume_url), what="Go to hold volumes")
        vid = min(_volumes_at(go.volume_url))
        fid = f"{vid},0a1b2c3d4e"
        status, _, _ = http(
            "POST", f"{go.volume_url}/{fid}", b"held by Go", {"Content-Type": "text/plain"}
        )
        assert status == 201
        servers = []
        try:
            for mode in ("proxy", "redirect", "local"):
                server = OurServer(
                    str(tmp_path / mode),
                    go.master_port,
                    str(tmp_path / f"{mode}.log"),
                    extra=[f"-readMode={mode}", "-max=0"],
                )
                server.start()
                servers.append(server)
            proxy, redirect, local = servers
            status, headers, body = http("GET", f"{proxy.url}/{fid}")
            assert (status, body) == (200, b"held by Go")
            request = urllib.request.Request(f"{redirect.url}/{fid}?collection=&x=1")
            opener = urllib.request.build_opener(_NoRedirect())
            with pytest.raises(urllib.error.HTTPError) as moved:
                opener.open(request, timeout=10)
            assert moved.value.code == 301
            assert moved.value.headers["Location"] == f"{go.volume_url}/{fid}?proxied=true"
            assert http("GET", f"{local.url}/{fid}")[0] == 404
            assert http("GET", f"{proxy.url}/9999,0a1b2c3d4e")[0] == 404  # unknown everywhere
        finally:
            for server in servers:
                server.stop()


def _volumes_at(url: str) -> set[int]:
    return {v["Id"] for v in json.loads(http("GET", f"{url}/status")[2])["Volumes"] or []}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        """No redirect is followed: the test reads the 30x itself."""
        return None


def test_ping_reaches_the_go_master(cluster) -> None:
    import grpc

    from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
    from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc

    go, ours = cluster
    with grpc.insecure_channel(f"127.0.0.1:{ours.port + 10000}") as channel:
        reply = pb_grpc.VolumeServerStub(channel).Ping(
            pb.PingRequest(target=f"127.0.0.1:{go.master_port}", target_type="master"), timeout=10
        )
    assert reply.start_time_ns <= reply.stop_time_ns and reply.remote_time_ns > 0


def test_heartbeats_follow_the_leader_across_master_peers(tmp_path) -> None:
    """Three Go masters; ours is told all of them, registers with the leader, and registers
    again with the new leader after the old one is stopped."""
    ports = [free_port_pair() for _ in range(3)]
    peers = ",".join(f"127.0.0.1:{p}" for p in ports)
    masters = []
    for port in ports:
        mdir = tmp_path / f"m{port}"
        mdir.mkdir()
        process = GoProcess(
            "master",
            [
                "master",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={port}",
                f"-port.grpc={port + 10000}",
                f"-mdir={mdir}",
                f"-peers={peers}",
                "-volumeSizeLimitMB=64",
            ],
            str(tmp_path / f"m{port}.log"),
        )
        process.start()
        masters.append((port, process))
    ours = None
    try:

        def leader() -> str:
            for port, process in masters:
                if process.process.poll() is not None:
                    continue
                status, _, body = http("GET", f"http://127.0.0.1:{port}/cluster/status", timeout=2)
                if status == 200 and json.loads(body).get("IsLeader"):
                    return f"127.0.0.1:{port}"
            return ""

        first = wait_until(leader, timeout=60, what="a master leader")
        # Name a follower first, so the client has to move to the leader it is told about.
        followers = [f"127.0.0.1:{p}" for p, _ in masters if f"127.0.0.1:{p}" != first]
        ours = OurServer(
            str(tmp_path / "ours"),
            ports[0],
            str(tmp_path / "ours.log"),
            extra=[f"-master={','.join([*followers, first])}"],
        )
        ours.start()
        ours.wait_registered(f"http://{first}", timeout=120)
        for port, process in masters:
            if f"127.0.0.1:{port}" == first:
                process.stop()
        second = wait_until(
            lambda: (lambda found: found != first and found)(leader()),
            timeout=90,
            what="a new master leader",
        )
        ours.wait_registered(f"http://{second}", timeout=120)
    finally:
        if ours is not None:
            ours.stop()
        for _, process in masters:
            process.stop()


def test_replicated_writes_and_deletes_between_go_and_ours(tmp_path) -> None:
    """A 001 volume on Go's server and ours: each one's writes and deletes reach the other."""
    go = GoCluster(str(tmp_path))
    os.makedirs(tmp_path / "go-data")
    with go.running():
        go.start_master()
        go.start_volume(str(tmp_path / "go-data"))
        ours = OurServer(str(tmp_path / "ours"), go.master_port, str(tmp_path / "ours.log"))
        ours.start()
        try:
            ours.wait_registered(go.master_url)
            wait_until(
                lambda: http("GET", f"{go.master_url}/vol/grow?count=1&replication=001")[0] == 200,
                what="a 001 volume on both servers",
            )
            shared = wait_until(
                lambda: _volumes_at(go.volume_url) & _volumes_at(ours.url), what="the shared volume"
            )
            vid = min(shared)
            from_ours, from_go = f"{vid},0b0000beef", f"{vid},0c0000beef"
            status, _, body = http(
                "POST",
                f"{ours.url}/{from_ours}",
                b"written to ours",
                {"Content-Type": "text/plain", "Seaweed-Origin": "ours"},
            )
            assert status == 201, body
            status, _, body = http(
                "POST",
                f"{go.volume_url}/{from_go}",
                b"written to Go",
                {"Content-Type": "text/plain"},
            )
            assert status == 201, body
            status, headers, body = http("GET", f"{go.volume_url}/{from_ours}")
            assert (status, body) == (200, b"written to ours") and headers.get("Origin") == "ours"
            assert http("GET", f"{ours.url}/{from_go}")[2] == b"written to Go"
            assert http("DELETE", f"{ours.url}/{from_go}")[0] == 202
            assert http("GET", f"{go.volume_url}/{from_go}")[0] == 404
            assert http("DELETE", f"{go.volume_url}/{from_ours}")[0] == 202
            assert http("GET", f"{ours.url}/{from_ours}")[0] == 404

            # A read-only copy is no replication target: writes and deletes on the other
            # server fail before they start, as 4.48 words it (checked on the binary).
            kept = f"{vid},0e0000beef"
            assert http("POST", f"{ours.url}/{kept}", b"kept", {"Content-Type": "a/b"})[0] == 201
            out = shell(
                go, f"lock\nvolume.mark -node={go.volume_url[7:]} -volumeId={vid} -readonly"
            )
            assert "error" not in out.lower(), out
            too_few = (
                f"replication locations [1] is less than volume {vid} replication copy count [2]"
            )

            def refused(method: str, fid: str) -> str | None:
                status, _, body = http(method, f"{ours.url}/{fid}", b"x", {"Content-Type": "a/b"})
                error = json.loads(body or b"{}").get("error", "")
                return error if status == 500 and too_few in error else None

            # Our location cache lags the master by up to its 10 s lifetime.
            error = wait_until(lambda: refused("POST", f"{vid},0d0000beef"), what="the refusal")
            assert error == "writable " + too_few
            assert refused("DELETE", kept) == "Deletion Failed: " + too_few
            assert http("GET", f"{ours.url}/{kept}")[2] == b"kept"
        finally:
            ours.stop()


def test_chunked_upload_reads_whole_and_delete_removes_chunks(cluster, tmp_path) -> None:
    """``weed upload -maxMB`` stores chunks plus a manifest; reading the manifest's fid
    returns the whole file, deleting it deletes the chunks."""
    go, ours = cluster
    payload = random.Random(9).randbytes(2 * 1024 * 1024 + 123)
    source = tmp_path / "chunky.bin"
    source.write_bytes(payload)
    result = weed("upload", f"-master=127.0.0.1:{go.master_port}", "-maxMB=1", str(source))
    assert result.returncode == 0, result.stderr
    fid = json.loads(result.stdout)[0]["fid"]
    status, headers, body = http("GET", f"{ours.url}/{fid}")
    assert status == 200 and body == payload
    assert {k.lower(): v for k, v in headers.items()}["x-file-store"] == "chunked"
    # Streamed chunk by chunk: ranges across a chunk boundary, and several at once.
    boundary = 1024 * 1024
    status, _, body = http("GET", f"{ours.url}/{fid}", headers={"Range": "bytes=1048000-1049000"})
    assert status == 206 and body == payload[1048000:1049001]
    status, headers, body = http(
        "GET", f"{ours.url}/{fid}", headers={"Range": f"bytes=0-9,{2 * boundary}-"}
    )
    assert status == 206 and payload[:10] in body and payload[2 * boundary :] in body
    status, headers, _ = http("HEAD", f"{ours.url}/{fid}")
    assert {k.lower(): v for k, v in headers.items()}["content-length"] == str(len(payload))
    status, _, manifest = http("GET", f"{ours.url}/{fid}?cm=false")
    chunks = [c["fid"] for c in json.loads(manifest)["chunks"]]
    assert len(chunks) == 3
    status, _, reply = http("DELETE", f"{ours.url}/{fid}")
    assert status == 202 and json.loads(reply)["size"] == len(payload)
    for chunk in chunks:
        assert http("GET", f"{ours.url}/{chunk}")[0] == 404
