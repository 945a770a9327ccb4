"""Run the volume server: HTTP (admin and public ports), gRPC and the heartbeat to the master.

Stopping (SIGTERM or SIGINT) follows Go: stop heartbeating and report unhealthy, wait
``-preStopSeconds`` so the master and clients move away, then stop serving and close volumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

import uvloop

from .adapters.grpc.master_client import fetch_storage_backends
from .adapters.grpc.server import start_grpc_server
from .adapters.http.metrics import MetricsServer
from .adapters.http.metrics import install as install_metrics
from .adapters.http.protocol import HttpServer
from .config import VolumeServerConfig
from .container import build_container
from .startup import StartupError, bind_error, listening_ports

log = logging.getLogger("seaweed_volume")


async def run_server(config: VolumeServerConfig, ready: asyncio.Event | None = None) -> None:
    container = build_container(config)
    fetch_storage_backends(container.tiers(), config.master)
    store = container.store()
    bind = config.ip_bind or config.ip
    master_client = container.master_client()
    ctx = container.http_context()
    try:
        grpc_server = start_grpc_server(
            container.grpc_servicer(),
            bind,
            config.grpc_port,
            white_list=container.guard().white_list,
        )
    except OSError:
        store.close()
        raise StartupError(
            "port.grpc", config.grpc_port, f"cannot listen on {bind}:{config.grpc_port}"
        ) from None
    apps = container.http_apps()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    natives = [HttpServer(ctx, app, public, config.idle_timeout) for app, _, public in apps]
    metrics_server = MetricsServer()
    listening = "port"
    try:
        for native, (_, port, public) in zip(natives, apps, strict=True):
            listening = "port.public" if public else "port"
            await native.start(bind, port)
        if config.metrics_port:
            listening = "metricsPort"
            await metrics_server.start(config.metrics_ip or bind, config.metrics_port)
    except OSError as err:
        for native in natives:
            await native.stop()
        await metrics_server.stop()
        grpc_server.stop(None)
        store.close()
        flag, host, port = next(p for p in listening_ports(config) if p[0] == listening)
        raise bind_error(flag, host, port, err) from None
    install_metrics(ctx)
    # What is loaded by now lives as long as the server: out of the collector's sight, the full
    # collections that requests' garbage triggers walk only what requests made (as -workers'
    # supervisor freezes before it forks).
    gc.collect()
    gc.freeze()
    master_client.start()
    log.info(
        "volume server %s:%d started (grpc %d, %d dirs, %d volumes)",
        config.ip,
        config.port,
        config.grpc_port,
        len(store.locations),
        len(store.volumes()),
    )
    if ready is not None:
        ready.set()
    await stop.wait()

    log.info("stopping: heartbeat off, waiting %ds before shutdown", config.pre_stop_seconds)
    ctx.is_stopping = True
    await asyncio.to_thread(master_client.stop)
    if config.pre_stop_seconds > 0:
        await asyncio.sleep(config.pre_stop_seconds)
    for native in natives:
        await native.stop()
    await metrics_server.stop()
    grpc_server.stop(grace=2).wait()
    store.close()
    log.info("volume server stopped")


def serve(config: VolumeServerConfig) -> int:
    if config.workers > 1:
        from .workers import serve_with_workers  # (here: workers imports this module)

        return serve_with_workers(config)
    uvloop.install()
    asyncio.run(run_server(config))
    return 0
