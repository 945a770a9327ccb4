"""The composition root builds every object of a server process with all its collaborators
given at construction, and ``Store`` satisfies the port the adapters are typed against."""

from __future__ import annotations

import inspect

from seaweed_volume.adapters.grpc.master_client import MasterClient
from seaweed_volume.adapters.http.throttle import SharedLimits, SharedSlots
from seaweed_volume.config import VolumeServerConfig
from seaweed_volume.container import ProcessRole, build_container, process_container
from seaweed_volume.core.ports import VolumeRepository
from seaweed_volume.core.store import Store
from seaweed_volume.workers import SharedFlags


def _config(tmp_path) -> VolumeServerConfig:
    return VolumeServerConfig(
        dirs=[str(tmp_path)],
        max_volume_counts=[2],
        port=18080,
        master="127.0.0.1:9333",
        concurrent_upload_limit_mb=3,
        offset_bytes=5,
    )


def test_the_store_satisfies_the_volume_repository_port(tmp_path) -> None:
    """Every member of the port exists on ``Store``, methods with the same parameters (names,
    kinds, defaults), so an adapter typed against the port runs against the store."""
    store = build_container(_config(tmp_path)).store()
    try:
        assert isinstance(store, VolumeRepository)
        for name, member in inspect.getmembers(VolumeRepository, inspect.isfunction):
            if name.startswith("_"):
                continue
            # (after ``self``, which a mypyc-compiled method reports as positional-only)
            wanted = [
                (p.name, p.kind, p.default)
                for p in list(inspect.signature(member).parameters.values())[1:]
            ]
            actual = [
                (p.name, p.kind, p.default)
                for p in list(inspect.signature(getattr(Store, name)).parameters.values())[1:]
            ]
            assert actual == wanted, name
    finally:
        store.close()


def test_one_process_gets_every_collaborator_at_construction(tmp_path) -> None:
    container = build_container(_config(tmp_path))
    try:
        ctx = container.http_context()
        master = container.master_client()
        servicer = container.grpc_servicer()
        assert isinstance(master, MasterClient) and master.on_metrics_gateway is not None
        assert ctx.store is container.store() and servicer.store is ctx.store
        assert ctx.master is master and ctx.heartbeat_state is master
        assert ctx.ec_remote is container.remote_shards() is servicer.remote_shards
        assert ctx.images is container.image_transformer()
        assert servicer.master_client is master and servicer.version == ctx.version
        assert ctx.version == "8000GB 4.48"
        assert ctx.uploads.limit == 3 * 1024 * 1024
        assert [(port, public) for _, port, public in container.http_apps()] == [(18080, False)]
    finally:
        container.store().close()


def test_a_worker_process_shares_the_store_and_reads_health_from_the_shared_flag(
    tmp_path,
) -> None:
    root = build_container(_config(tmp_path))
    flags = SharedFlags()
    uploads, downloads = SharedSlots(3), SharedSlots(3)
    worker = process_container(
        root,
        ProcessRole(
            heartbeats=False, health=flags, shared_limits=SharedLimits(uploads, downloads, 1)
        ),
    )
    try:
        ctx = worker.http_context()
        assert worker.store() is root.store() and ctx.store is root.store()
        assert ctx.heartbeat_state is flags and ctx.master is worker.master_client()
        assert worker.master_client() is not root.master_client()
        flags.is_heartbeating = False
        assert not ctx.is_heartbeating
        uploads.add(0, 5 * 1024 * 1024)  # another process's bytes count here
        assert ctx.uploads.over
    finally:
        root.store().close()
