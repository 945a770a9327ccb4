"""Copy, tail, raw needles and file transfer between two of our servers over real loopback
gRPC channels (the Go peer side is in tests/interop/test_data_movement_go.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from seaweed_volume.adapters.grpc import tail
from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from seaweed_volume.adapters.grpc.server import VolumeServerServicer, start_grpc_server
from seaweed_volume.config import VolumeServerConfig
from seaweed_volume.container import build_container
from seaweed_volume.core.crc import legacy_crc_value
from seaweed_volume.core.errors import AlreadyDeleted
from seaweed_volume.core.store import Store
from seaweed_volume.core.volume.scan import scan_records
from tests.support.go_cluster import free_port_pair
from tests.unit.test_volume import needle


@dataclass
class Node:
    store: Store
    stub: pb_grpc.VolumeServerStub
    address: str
    directory: str


@contextlib.contextmanager
def running_node(directory: str) -> Iterator[Node]:
    port = free_port_pair()
    config = VolumeServerConfig(dirs=[directory], max_volume_counts=[4], port=port, offset_bytes=5)
    store = build_container(config).store()
    server = start_grpc_server(VolumeServerServicer(store, config), "127.0.0.1", config.grpc_port)
    channel = grpc.insecure_channel(f"127.0.0.1:{config.grpc_port}")
    try:
        yield Node(store, pb_grpc.VolumeServerStub(channel), f"127.0.0.1:{port}", directory)
    finally:
        channel.close()
        server.stop(None).wait()
        store.close()


@pytest.fixture
def nodes(tmp_path) -> Iterator[tuple[Node, Node]]:
    with running_node(str(tmp_path / "a")) as a, running_node(str(tmp_path / "b")) as b:
        yield a, b


@pytest.fixture(autouse=True)
def quick_tail_rounds(monkeypatch) -> None:
    monkeypatch.setattr(tail, "POLL_SECONDS", 0.05)


def fill(node: Node, vid: int = 3, collection: str = "c") -> None:
    node.store.add_volume(vid, collection=collection)
    for i in range(1, 9):
        node.store.write_needle(vid, needle(i, f"payload {i} ".encode() * (i * 40)))
    node.store.delete_needle(vid, 2, 0xABCD)
    node.store.write_needle(vid, needle(5, b"rewritten five"))


def files_of(node: Node, base: str) -> dict[str, bytes]:
    return {
        suffix: open(os.path.join(node.directory, base + suffix), "rb").read()
        for suffix in (".dat", ".idx", ".vif")
    }


def test_volume_copy_pulls_identical_files_and_mounts_them(nodes) -> None:
    a, b = nodes
    fill(a)
    b.store.add_volume(3, collection="c")  # a stale replica: replaced once the source answers
    b.store.write_needle(3, needle(77, b"stale"))
    replies = list(b.stub.VolumeCopy(pb.VolumeCopyRequest(volume_id=3, source_data_node=a.address)))
    assert replies[-1].last_append_at_ns == a.store.find_volume(3).last_append_at_ns > 0
    assert files_of(b, "c_3") == files_of(a, "c_3")
    copied = b.store.find_volume(3)
    assert copied.read_needle(5).data == b"rewritten five"
    assert copied.locate(77) is None
    assert not os.path.exists(os.path.join(b.directory, "c_3.note"))
    assert os.path.getmtime(os.path.join(b.directory, "c_3.dat")) == pytest.approx(
        os.path.getmtime(os.path.join(a.directory, "c_3.dat")), abs=0.01
    )


def test_volume_copy_of_a_missing_source_keeps_the_local_replica(nodes) -> None:
    a, b = nodes
    b.store.add_volume(9)
    b.store.write_needle(9, needle(1, b"keep me"))
    with pytest.raises(grpc.RpcError, match="read volume file status failed") as err:
        list(b.stub.VolumeCopy(pb.VolumeCopyRequest(volume_id=9, source_data_node=a.address)))
    assert "not found volume id 9" in err.value.details()
    assert b.store.read_needle(9, 1).data == b"keep me"


def copy_file(node: Node, **fields) -> list[pb.CopyFileResponse]:
    return list(node.stub.CopyFile(pb.CopyFileRequest(**fields)))


def test_copy_file_rules(nodes) -> None:
    a, _ = nodes
    fill(a)
    revision = a.store.find_volume(3).super_block.compaction_revision
    dat = open(os.path.join(a.directory, "c_3.dat"), "rb").read()
    whole = copy_file(a, volume_id=3, ext=".dat", compaction_revision=revision, stop_offset=1 << 40)
    assert b"".join(r.file_content for r in whole) == dat
    assert whole[0].modified_ts_ns > 0 and all(r.modified_ts_ns == 0 for r in whole[1:])
    part = copy_file(a, volume_id=3, ext=".dat", compaction_revision=0xFFFFFFFF, stop_offset=100)
    assert b"".join(r.file_content for r in part) == dat[:100]
    # Nothing to copy still tells the file exists; a missing file sends nothing.
    empty = copy_file(a, volume_id=3, ext=".idx", compaction_revision=revision, stop_offset=0)
    assert [(r.file_content, r.modified_ts_ns > 0) for r in empty] == [(b"", True)]
    assert copy_file(a, volume_id=3, ext=".cpd", compaction_revision=revision, stop_offset=0) == []
    assert (
        copy_file(
            a,
            volume_id=3,
            ext=".cpd",
            compaction_revision=revision,
            stop_offset=10,
            ignore_source_file_not_found=True,
        )
        == []
    )
    for fields, message in [
        ({"ext": "/../x"}, 'invalid file extension "/../x"'),
        ({"ext": ".dat", "collection": "../up"}, 'invalid collection "../up"'),
        ({"ext": ".dat", "compaction_revision": revision + 1}, "volume 3 is compacted"),
        ({"ext": ".cpd", "stop_offset": 5}, "no such file or directory"),
        ({"ext": ".ecx", "is_ec_volume": True, "stop_offset": 5}, "not found ec volume id 3"),
    ]:
        with pytest.raises(grpc.RpcError, match=message):
            copy_file(a, volume_id=3, **fields)
    with pytest.raises(grpc.RpcError, match="not found volume id 12"):
        copy_file(a, volume_id=12, ext=".dat")


def receive(node: Node, *messages: pb.ReceiveFileRequest) -> pb.ReceiveFileResponse:
    return node.stub.ReceiveFile(iter(messages))


def test_receive_file(nodes) -> None:
    a, _ = nodes
    fill(a)
    info = pb.ReceiveFileInfo(volume_id=5, ext=".ec03", collection="c", is_ec_volume=True)
    reply = receive(
        a,
        pb.ReceiveFileRequest(info=info),
        pb.ReceiveFileRequest(file_content=b"shard "),
        pb.ReceiveFileRequest(file_content=b"bytes"),
    )
    assert (reply.bytes_written, reply.error) == (11, "")
    assert open(os.path.join(a.directory, "c_5.ec03"), "rb").read() == b"shard bytes"
    regular = pb.ReceiveFileInfo(volume_id=3, ext=".sdx", collection="c")
    reply = receive(
        a, pb.ReceiveFileRequest(info=regular), pb.ReceiveFileRequest(file_content=b"x")
    )
    assert reply.error == "" and os.path.exists(os.path.join(a.directory, "c_3.sdx"))
    staged = pb.ReceiveFileInfo(volume_id=6, ext=".dat", collection="c", disk_type="hdd")
    assert receive(a, pb.ReceiveFileRequest(info=staged)).error == ""
    assert os.path.exists(os.path.join(a.directory, "c_6.dat.copying"))
    for messages, error in [
        ([pb.ReceiveFileRequest(file_content=b"x")], "file info must be sent first"),
        ([pb.ReceiveFileRequest()], "unknown message type"),
        ([pb.ReceiveFileRequest(info=pb.ReceiveFileInfo(volume_id=3, ext="x"))], "invalid file"),
        (
            [pb.ReceiveFileRequest(info=pb.ReceiveFileInfo(volume_id=8, ext=".dat"))],
            "volume 8 not found",
        ),
        (
            [
                pb.ReceiveFileRequest(
                    info=pb.ReceiveFileInfo(volume_id=8, ext=".ec00", is_ec_volume=True, disk_id=4)
                )
            ],
            "invalid disk_id 4: only have 1 disks",
        ),
    ]:
        assert error in receive(a, *messages).error


def test_maintenance_mode_refuses_copies_and_blob_writes(nodes) -> None:
    a, b = nodes
    fill(a)
    b.stub.SetState(pb.SetStateRequest(state=pb.VolumeServerState(maintenance=True)))
    for call in (
        lambda: list(
            b.stub.VolumeCopy(pb.VolumeCopyRequest(volume_id=3, source_data_node=a.address))
        ),
        lambda: b.stub.WriteNeedleBlob(pb.WriteNeedleBlobRequest(volume_id=3, needle_id=1)),
        lambda: receive(b, pb.ReceiveFileRequest(info=pb.ReceiveFileInfo(volume_id=3, ext=".dat"))),
    ):
        with pytest.raises(grpc.RpcError, match="maintenance mode"):
            call()


def test_needle_blob_and_meta_between_servers(nodes) -> None:
    a, b = nodes
    fill(a)
    b.store.add_volume(3, collection="c")
    offset, size = a.store.find_volume(3).locate(4)
    blob = a.stub.ReadNeedleBlob(pb.ReadNeedleBlobRequest(volume_id=3, offset=offset, size=size))
    b.stub.WriteNeedleBlob(
        pb.WriteNeedleBlobRequest(volume_id=3, needle_id=4, size=size, needle_blob=blob.needle_blob)
    )
    assert b.store.read_needle(3, 4).data == a.store.read_needle(3, 4).data
    meta = a.stub.ReadNeedleMeta(
        pb.ReadNeedleMetaRequest(volume_id=3, needle_id=4, offset=offset, size=size)
    )
    stored = a.store.read_needle(3, 4)
    assert (meta.cookie, meta.crc, meta.last_modified, meta.append_at_ns) == (
        0xABCD,
        legacy_crc_value(stored.checksum),
        1_700_000_000,
        stored.append_at_ns,
    )
    with pytest.raises(grpc.RpcError, match="read needle blob offset"):
        a.stub.ReadNeedleBlob(pb.ReadNeedleBlobRequest(volume_id=3, offset=1 << 30, size=size))
    with pytest.raises(grpc.RpcError, match="not found volume id 40"):
        a.stub.ReadNeedleBlob(pb.ReadNeedleBlobRequest(volume_id=40))
    with pytest.raises(grpc.RpcError, match="not found volume id 40 and read needle metadata"):
        a.stub.ReadNeedleMeta(pb.ReadNeedleMetaRequest(volume_id=40))
    with pytest.raises(grpc.RpcError, match="write blob needle 4 size 3: .*does not match"):
        b.stub.WriteNeedleBlob(
            pb.WriteNeedleBlobRequest(
                volume_id=3, needle_id=4, size=3, needle_blob=blob.needle_blob
            )
        )


def test_read_all_needles_streams_indexed_records_then_fails_on_a_missing_volume(nodes) -> None:
    a, _ = nodes
    fill(a)
    a.store.add_volume(4)
    a.store.write_needle(4, needle(1, b"four"))
    replies = a.stub.ReadAllNeedles(pb.ReadAllNeedlesRequest(volume_ids=[3, 4, 99]))
    seen = []
    with pytest.raises(grpc.RpcError, match="not found volume id 99"):
        for reply in replies:
            seen.append((reply.volume_id, reply.needle_id, reply.needle_blob))
    # File order; needle 5's first record is no longer indexed; the deleted needle 2 still is.
    assert [(v, n) for v, n, _ in seen] == [(3, i) for i in (1, 2, 3, 4, 6, 7, 8, 5)] + [(4, 1)]
    assert seen[-2][2] == b"rewritten five" and seen[-1][2] == b"four"


def test_incremental_copy_sends_the_dat_from_a_point_in_time(nodes) -> None:
    a, _ = nodes
    fill(a)
    volume = a.store.find_volume(3)
    dat = open(os.path.join(a.directory, "c_3.dat"), "rb").read()

    def since(ns: int) -> bytes:
        replies = a.stub.VolumeIncrementalCopy(
            pb.VolumeIncrementalCopyRequest(volume_id=3, since_ns=ns)
        )
        return b"".join(r.file_content for r in replies)

    records = list(scan_records(volume.dat, 3, volume.super_block.block_size))
    assert since(0) == dat[records[0].offset :]
    third = volume.read_meta_at(records[2].offset, records[2].size).append_at_ns
    assert since(third) == dat[records[3].offset :]
    assert since(volume.last_append_at_ns) == b""


def test_tail_sender_heartbeats_then_ends_when_idle(nodes) -> None:
    a, _ = nodes
    a.store.add_volume(2)
    replies = list(
        a.stub.VolumeTailSender(
            pb.VolumeTailSenderRequest(volume_id=2, since_ns=0, idle_timeout_seconds=2)
        )
    )
    assert replies and all(
        r.is_last_chunk and not r.needle_header and r.version == 3 for r in replies
    )
    with pytest.raises(grpc.RpcError, match="not found volume id 8"):
        list(a.stub.VolumeTailSender(pb.VolumeTailSenderRequest(volume_id=8)))


def test_tail_sender_splits_big_bodies(nodes, monkeypatch) -> None:
    a, _ = nodes
    monkeypatch.setattr(tail, "BUFFER_SIZE_LIMIT", 1000)
    a.store.add_volume(2)
    a.store.write_needle(2, needle(1, os.urandom(2500)))
    replies = [
        r
        for r in a.stub.VolumeTailSender(
            pb.VolumeTailSenderRequest(volume_id=2, idle_timeout_seconds=1)
        )
        if r.needle_header
    ]
    assert [len(r.needle_body) for r in replies][:2] == [1000, 1000]
    assert [r.is_last_chunk for r in replies] == [False, False, True]


def test_tail_receiver_replays_the_source_into_the_local_volume(nodes) -> None:
    a, b = nodes
    fill(a)
    b.store.add_volume(3, collection="c")
    b.stub.VolumeTailReceiver(
        pb.VolumeTailReceiverRequest(
            volume_id=3, since_ns=0, idle_timeout_seconds=1, source_volume_server=a.address
        )
    )
    replica = b.store.find_volume(3)
    for i in (1, 3, 4, 6, 7, 8):
        assert replica.read_needle(i).data == a.store.read_needle(3, i).data
    assert replica.read_needle(5).data == b"rewritten five"
    # The tombstone deletes the needle here too (Go 4.48 would store it as an empty file).
    assert replica.locate(2)[1] < 0
    with pytest.raises(AlreadyDeleted):
        replica.read_needle(2)
    # The same history gives the same files.
    assert [(r.needle_id, r.size) for r in scan_records(replica.dat, 3, 8)] == [
        (r.needle_id, r.size) for r in scan_records(a.store.find_volume(3).dat, 3, 8)
    ]
    with pytest.raises(grpc.RpcError, match="receiver not found volume id 30"):
        b.stub.VolumeTailReceiver(
            pb.VolumeTailReceiverRequest(volume_id=30, source_volume_server=a.address)
        )
