"""Run the volume server: HTTP (admin and public ports), gRPC and the heartbeat to the master.

Stopping (SIGTERM or SIGINT) follows Go: stop heartbeating and report unhealthy, wait
``-preStopSeconds`` so the master and clients move away, then stop serving and close volumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading

import uvicorn
from starlette.types import ASGIApp

from .adapters.grpc.ec_remote import GrpcRemoteShards
from .adapters.grpc.master_client import MasterClient, fetch_storage_backends
from .adapters.grpc.server import start_grpc_server
from .adapters.http.app import create_app
from .adapters.http.auth import JwtGuard
from .adapters.http.context import HttpContext
from .adapters.http.images import PillowImages
from .adapters.http.metrics import MetricsServer, push_forever
from .adapters.http.metrics import install as install_metrics
from .adapters.http.protocol import HttpServer
from .config import VolumeServerConfig
from .container import build_container
from .core.ports import ImageTransformer
from .core.store import Store
from .startup import StartupError, bind_error, listening_ports

log = logging.getLogger("seaweed_volume")


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to :func:`serve`."""

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        return None

    @contextlib.contextmanager
    def capture_signals(self):  # uvicorn >= 0.29
        yield


def _http_server(app, host: str, port: int) -> _QuietServer:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        server_header=False,
        date_header=True,
        timeout_keep_alive=30,
    )
    return _QuietServer(config)


def make_guard(config: VolumeServerConfig) -> JwtGuard:
    return JwtGuard.from_security_file(config.security_file).with_white_list(config.white_list)


def make_http_context(
    store: Store,
    config: VolumeServerConfig,
    guard: JwtGuard,
    master_client: MasterClient,
    images: ImageTransformer | None = None,
) -> HttpContext:
    """Everything the HTTP handlers need, lookups through the master included; ``images``:
    the plugins' image transformer (``None``: the built-in one)."""
    ctx = HttpContext(store, config, guard=guard, images=images or PillowImages())
    ctx.heartbeat_state = master_client
    ctx.lookup_volume = master_client.lookup_volume
    ctx.lookup_writable = master_client.lookup_writable
    ctx.forget_lookup = master_client.forget_lookup
    ctx.ec_remote = GrpcRemoteShards(
        master_client.lookup_ec_shards, f"{config.ip}:{config.grpc_port}"
    )
    return ctx


def push_metrics_when_asked(master_client: MasterClient, config: VolumeServerConfig) -> None:
    """Push to the gateway the master names, when it names one (``LoopPushingMetric``)."""
    master_client.on_metrics_gateway = lambda address, interval, stopped: threading.Thread(
        target=push_forever,
        args=(address, interval, f"{config.ip}:{config.port}", stopped),
        name="metrics-push",
        daemon=True,
    ).start()


def http_apps(ctx: HttpContext, config: VolumeServerConfig) -> list[tuple[ASGIApp, int, bool]]:
    """(application, port, public) for the admin port and, when separate, the public one."""
    apps = [(create_app(ctx), config.port, False)]
    if config.public_port != config.port:
        apps.append((create_app(ctx, public=True), config.public_port, True))
    return apps


async def run_server(config: VolumeServerConfig, ready: asyncio.Event | None = None) -> None:
    container = build_container(config)
    fetch_storage_backends(container.tiers(), config.master)
    store = container.store()
    bind = config.ip_bind or config.ip
    guard = make_guard(config)
    master_client = MasterClient(store, config)
    ctx = make_http_context(store, config, guard, master_client, container.image_transformer())
    try:
        grpc_server = start_grpc_server(
            store,
            config,
            ctx,
            bind,
            master_client,
            white_list=guard.white_list,
            remote_readers=container.remote_readers(),
        )
    except OSError:
        store.close()
        raise StartupError(
            "port.grpc", config.grpc_port, f"cannot listen on {bind}:{config.grpc_port}"
        ) from None
    apps = http_apps(ctx, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    natives: list[HttpServer] = []
    servers: list[_QuietServer] = []
    tasks: list[asyncio.Task] = []
    metrics_server = MetricsServer()
    listening = "port"
    try:
        if config.http_server == "uvicorn":
            servers = [_http_server(app, bind, port) for app, port, _ in apps]
            tasks = [asyncio.create_task(server.serve()) for server in servers]
            while not all(server.started for server in servers):
                if any(task.done() for task in tasks):
                    break
                await asyncio.sleep(0.01)
        else:
            natives = [HttpServer(ctx, app, public, config.idle_timeout) for app, _, public in apps]
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
    push_metrics_when_asked(master_client, config)
    master_client.start()
    log.info(
        "volume server %s:%d started (grpc %d, %d dirs, %d volumes, %s http)",
        config.ip,
        config.port,
        config.grpc_port,
        len(store.locations),
        len(store.volumes()),
        config.http_server,
    )
    if ready is not None:
        ready.set()
    stop_wait = asyncio.create_task(stop.wait())
    await asyncio.wait([stop_wait, *tasks], return_when=asyncio.FIRST_COMPLETED)

    log.info("stopping: heartbeat off, waiting %ds before shutdown", config.pre_stop_seconds)
    ctx.is_stopping = True
    await asyncio.to_thread(master_client.stop)
    if config.pre_stop_seconds > 0:
        await asyncio.sleep(config.pre_stop_seconds)
    if config.http_server == "uvicorn":
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
    else:
        for native in natives:
            await native.stop()
    await metrics_server.stop()
    grpc_server.stop(grace=2).wait()
    store.close()
    log.info("volume server stopped")


def serve(config: VolumeServerConfig) -> int:
    if config.workers > 1 and config.http_server == "native":
        from .workers import serve_with_workers  # noqa: PLC0415 - imports this module

        return serve_with_workers(config)
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(run_server(config))
    return 0
