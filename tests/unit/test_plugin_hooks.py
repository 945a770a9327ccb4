"""The published plugin hooks: each port a plugin can provide reaches the server through the
plugin manager and the container; a needle-map kind's side files are cleaned up by the core;
``-tierConfig`` names tier backends on the volume server's side."""

from __future__ import annotations

import os
from collections.abc import Mapping

import grpc
import pytest
from dependency_injector import providers

from seaweed_volume.adapters.grpc.master_client import MasterClient
from seaweed_volume.adapters.grpc.pb import remote_pb2
from seaweed_volume.adapters.grpc.pb import volume_server_pb2 as pb
from seaweed_volume.adapters.grpc.pb import volume_server_pb2_grpc as pb_grpc
from seaweed_volume.adapters.grpc.server import start_grpc_server
from seaweed_volume.adapters.http.auth import JwtGuard
from seaweed_volume.adapters.http.context import HttpContext
from seaweed_volume.adapters.http.images import PillowImages
from seaweed_volume.config import VolumeServerConfig
from seaweed_volume.container import build_container
from seaweed_volume.core.disk_location import DiskLocation
from seaweed_volume.core.needle.record import Needle
from seaweed_volume.core.needle_map.memory import MemoryNeedleMap, MemoryNeedleMapKind
from seaweed_volume.core.needle_map.sqlite_map import SqliteNeedleMapKind
from seaweed_volume.core.store import Store
from seaweed_volume.core.tier import TierRegistry, parse_tier_config
from seaweed_volume.core.types import OffsetWidth
from seaweed_volume.plugins.hookspecs import hookimpl
from seaweed_volume.plugins.manager import (
    create_plugin_manager,
    image_transformer,
    needle_map_kinds,
    remote_readers,
    tier_backend_factories,
)
from seaweed_volume.server import make_http_context
from seaweed_volume.startup import StartupError, check_tier_config
from tests.support.go_cluster import free_port_pair, http
from tests.support.native_server import running_native


class SideFileKind:
    """A third-party kind: the memory map plus a marker file and a directory of its own."""

    def __init__(self, name: str = "marked") -> None:
        self.name = name

    def open(
        self, base_path: str, index_bytes: bytes, width: OffsetWidth, version: int
    ) -> MemoryNeedleMap:
        with open(base_path + ".mark", "w") as out:
            out.write(str(len(index_bytes)))
        os.makedirs(base_path + ".markdir", exist_ok=True)
        return MemoryNeedleMapKind().open(base_path, index_bytes, width, version)

    def side_files(self, base_path: str) -> list[str]:
        return [base_path + ".mark", base_path + ".markdir"]


class MemoryReader:
    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def read(self, bucket: str, key: str, offset: int, size: int) -> bytes:
        return self.objects[(bucket, key)][offset : offset + size]


class MemoryReaderFactory:
    type = "memory"

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.confs: list[Mapping[str, object]] = []

    def create(self, conf: Mapping[str, object]) -> MemoryReader:
        self.confs.append(conf)
        return MemoryReader(self.objects)


class Images(PillowImages):
    """A transformer of a plugin (Pillow's, told apart by its class), noting its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def resize(self, data: bytes, ext: str, width: int, height: int, mode: str) -> bytes:
        self.calls.append((ext, width, height))
        return b"resized by the plugin"


class NotS3:
    type = "s3"

    def create(self, conf: Mapping[str, object]) -> MemoryReader:
        raise AssertionError("a plugin does not replace a built-in type")


class Plugin:
    def __init__(self) -> None:
        self.readers = MemoryReaderFactory()
        self.images = Images()

    @hookimpl
    def seaweed_needle_map_kinds(self) -> list:
        return [SideFileKind(), SideFileKind("memory")]

    @hookimpl
    def seaweed_remote_readers(self) -> list:
        return [self.readers, NotS3()]

    @hookimpl
    def seaweed_image_transformer(self) -> Images:
        return self.images


def _manager_with(plugin: object):
    manager = create_plugin_manager(load_entry_points=False)
    manager.register(plugin, name="test_plugin")
    return manager


def test_built_ins_come_through_the_hooks() -> None:
    manager = create_plugin_manager(load_entry_points=False)
    assert {"memory", "sqlite", "leveldb"} <= set(needle_map_kinds(manager))
    assert set(tier_backend_factories(manager)) == {"s3"}
    assert set(remote_readers(manager)) == {"s3"}
    assert type(image_transformer(manager)) is PillowImages


def test_a_plugin_adds_kinds_and_readers_and_replaces_the_image_transformer() -> None:
    plugin = Plugin()
    manager = _manager_with(plugin)
    kinds = needle_map_kinds(manager)
    assert isinstance(kinds["marked"], SideFileKind)
    assert isinstance(kinds["memory"], MemoryNeedleMapKind)  # a built-in name stays
    readers = remote_readers(manager)
    assert readers["memory"] is plugin.readers and type(readers["s3"]).__name__ != "NotS3"
    assert image_transformer(manager) is plugin.images


def test_container_hands_the_plugin_ports_to_grpc_and_http(tmp_path) -> None:
    plugin = Plugin()
    port = free_port_pair()
    config = VolumeServerConfig(dirs=[str(tmp_path)], max_volume_counts=[4], port=port)
    container = build_container(config)
    container.plugin_manager.override(providers.Object(_manager_with(plugin)))
    assert container.image_transformer() is plugin.images
    store = container.store()
    store.add_volume(3)
    server = start_grpc_server(
        store,
        config,
        HttpContext(store, config, images=container.image_transformer()),
        "127.0.0.1",
        remote_readers=container.remote_readers(),
    )
    plugin.readers.objects[("bucket", "dir/object")] = b"0123456789abcdef"
    try:
        with grpc.insecure_channel(f"127.0.0.1:{config.grpc_port}") as channel:
            stub = pb_grpc.VolumeServerStub(channel)
            stub.FetchAndWriteNeedle(
                pb.FetchAndWriteNeedleRequest(
                    volume_id=3,
                    needle_id=7,
                    cookie=0x1234,
                    offset=4,
                    size=6,
                    remote_conf=remote_pb2.RemoteConf(type="memory", name="mine"),
                    remote_location=remote_pb2.RemoteStorageLocation(
                        name="mine", bucket="bucket", path="/dir/object"
                    ),
                )
            )
        assert store.read_needle(3, 7).data == b"456789"
        [conf] = plugin.readers.confs
        assert conf["name"] == "mine" and conf["s3_endpoint"] == ""  # every field, by name
    finally:
        server.stop(None).wait()
        store.close()


def _needle(needle_id: int, data: bytes) -> Needle:
    record = Needle(cookie=0xABCD, id=needle_id, data=data)
    record.update_checksum()
    return record


def _store(directory: str, kind: object) -> Store:
    location = DiskLocation(
        directory, 8, needle_map_kind=kind, known_kinds=[kind, SqliteNeedleMapKind()]
    )
    store = Store([location])
    store.load_existing_volumes()
    return store


def test_a_third_party_kinds_side_files_go_on_vacuum_and_delete(tmp_path) -> None:
    directory = str(tmp_path)
    base = os.path.join(directory, "1")
    kind = SideFileKind()
    store = _store(directory, kind)
    store.add_volume(1)
    for i in range(1, 11):
        store.write_needle(1, _needle(i, bytes([i]) * 300))
    for i in range(1, 8):
        store.delete_needle(1, i, 0xABCD)
    open(base + ".nmdb", "wb").close()  # left by an earlier -index=sqlite: stale after vacuum
    with open(base + ".markdir/state", "w") as out:
        out.write("mirrors the old .idx")
    store.compact_volume(1)
    store.commit_compact_volume(1)
    assert not os.path.exists(base + ".nmdb")
    # Removed with the old .idx, then made again by the reopened map from the new one.
    assert os.listdir(base + ".markdir") == []
    with open(base + ".mark") as src:
        assert int(src.read()) == os.path.getsize(base + ".idx")
    assert store.read_needle(1, 10).data == bytes([10]) * 300
    store.delete_volume(1)
    assert [name for name in os.listdir(directory) if name.startswith("1.")] == []
    store.close()


def test_a_kind_without_side_files_still_loads_and_deletes(tmp_path) -> None:
    class Bare:
        name = "bare"

        def open(self, base_path: str, index_bytes: bytes, width: OffsetWidth, version: int):
            return MemoryNeedleMapKind().open(base_path, index_bytes, width, version)

    store = _store(str(tmp_path), Bare())
    store.add_volume(2)
    store.write_needle(2, _needle(1, b"x"))
    store.delete_volume(2)
    assert [name for name in os.listdir(tmp_path) if name.startswith("2.")] == []
    store.close()


def test_tier_config_in_master_toml_form() -> None:
    configs = parse_tier_config(
        "[master.maintenance]\nscripts = ''\n"
        "[storage.backend.localdir.cold]\nenabled = true\ndirectory = '/cold'\nlevel = 3\n"
        "[storage.backend.localdir.off]\nenabled = false\n"
        "[storage.backend.s3.default]\nenabled = true\nforce_path_style = false\n"
    )
    assert [(c.type, c.id, c.properties) for c in configs] == [
        ("localdir", "cold", {"directory": "/cold", "level": "3"}),
        ("s3", "default", {"force_path_style": "false"}),
    ]


def test_tier_config_comes_before_the_masters_backends() -> None:
    made: list[tuple[str, dict[str, str]]] = []

    class Factory:
        type = "localdir"

        def create(self, backend_id: str, properties: dict[str, str]) -> object:
            made.append((backend_id, properties))
            return object()

    tiers = TierRegistry({"localdir": Factory()})  # type: ignore[dict-item]
    tiers.configure_all(parse_tier_config("[storage.backend.localdir.a]\nenabled=true\nd='file'"))
    tiers.configure("localdir", "a", {"d": "master"})  # what a heartbeat answer names
    tiers.configure("localdir", "b", {"d": "master"})
    assert made == [("a", {"d": "file"}), ("b", {"d": "master"})]
    assert sorted(tiers.backends) == ["localdir.a", "localdir.b"]


def test_tier_config_refusals(tmp_path) -> None:
    path = tmp_path / "tiers.toml"
    path.write_text("[storage.backend.nope.x]\nenabled = true\n")
    with pytest.raises(StartupError, match="backend storage type nope not found"):
        check_tier_config(str(path), ["s3"])
    path.write_text("[storage.backend\n")
    with pytest.raises(StartupError, match="-tierConfig="):
        check_tier_config(str(path), ["s3"])
    with pytest.raises(StartupError, match="cannot read"):
        check_tier_config(str(tmp_path / "missing.toml"), ["s3"])
    check_tier_config("", [])


def test_http_reads_resize_through_the_plugins_transformer(tmp_path) -> None:
    plugin = Plugin()
    transformer = image_transformer(_manager_with(plugin))

    def server_context(store: Store, config: VolumeServerConfig) -> HttpContext:
        client = MasterClient(store, config, heartbeat=False)
        return make_http_context(store, config, JwtGuard(), client, transformer)

    with running_native(str(tmp_path), context=server_context) as server:
        base = f"http://127.0.0.1:{server.port}"
        png = b"\x89PNG\r\n\x1a\n not really"
        status, _, _ = http("PUT", f"{base}/3,01637037d6", png, {"Content-Type": "image/png"})
        assert status == 201
        status, _, body = http("GET", f"{base}/3,01637037d6.png?width=10&height=20")
    assert (status, body) == (200, b"resized by the plugin")
    assert plugin.images.calls == [(".png", 10, 20)]
