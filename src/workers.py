"""``-workers=N``: serve HTTP from N processes, so every core takes requests.

Process model (docs/workers.md):

- The *supervisor* (the process started) binds the HTTP ports once, loads the volumes, then
  forks the other processes and only watches them: a dead one is replaced (at most
  :data:`RESTARTS_PER_MINUTE` times a minute, else the whole server stops with a message, never
  half-alive). It forks from its load-time snapshot, so the needle maps are shared copy-on-write.
- The *authority* serves gRPC, heartbeats to the master and pushes metrics; every admin change
  happens there and is published to the workers before its RPC answers
  (:mod:`.core.store_view`).
- *Workers* serve both HTTP ports on the shared listening sockets; appends from any of them
  meet in the volume files (:mod:`.core.volume.sharing`).

Stopping follows Go: on SIGTERM the workers report unhealthy, the authority stops heartbeating
and waits ``-preStopSeconds``, then every process finishes what it serves and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import gc
import logging
import mmap
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable

import uvloop

from .adapters.grpc.master_client import load_storage_backends, master_configuration
from .adapters.grpc.pb import master_pb2
from .adapters.grpc.server import start_grpc_server
from .adapters.http.metrics import PEER_SNAPSHOTS, MetricsServer
from .adapters.http.metrics import install as install_metrics
from .adapters.http.protocol import HttpServer
from .adapters.http.throttle import SharedLimits, SharedSlots
from .config import VolumeServerConfig
from .container import Container, ProcessRole, build_container, process_container
from .core import stats
from .core.store_view import StoreView
from .metrics_exchange import MetricsExchange
from .startup import bind_error

log = logging.getLogger("seaweed_volume")

RESTARTS_PER_MINUTE = 5
SNAPSHOT_SECONDS = 1.0
"""How often a worker hands its metrics to the process answering ``/metrics``."""
_WATCHED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}


class SharedFlags:
    """What workers must know of the authority without asking it: whether the server is
    heartbeating (``/healthz``) and whether it is stopping (``/readyz``)."""

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, mmap.PAGESIZE)
        self._memory[0] = 1

    @property
    def is_heartbeating(self) -> bool:
        return bool(self._memory[0])

    @is_heartbeating.setter
    def is_heartbeating(self, value: bool) -> None:
        self._memory[0] = int(value)

    @property
    def is_stopping(self) -> bool:
        return bool(self._memory[1])

    @is_stopping.setter
    def is_stopping(self, value: bool) -> None:
        self._memory[1] = int(value)


def listen(host: str, port: int) -> socket.socket:
    """Bound without SO_REUSEPORT: a second server on the port fails here."""
    return socket.create_server((host, port), backlog=1024, reuse_port=False)


def _master_configuration_from_child(
    masters: str,
) -> master_pb2.GetMasterConfigurationResponse | None:
    """Ask the master in a short-lived child, so this process never starts gRPC's threads
    before it forks the others."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read_end)
            answer = master_configuration([m.strip() for m in masters.split(",") if m.strip()])
            with os.fdopen(write_end, "wb") as out:
                out.write(b"" if answer is None else b"1" + answer.SerializeToString())
        except BaseException:  # noqa: BLE001 - the parent goes on without backends
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as src:
        raw = src.read()
    os.waitpid(pid, 0)
    if not raw:
        return None
    return master_pb2.GetMasterConfigurationResponse.FromString(raw[1:])


def serve_with_workers(config: VolumeServerConfig) -> int:
    bind = config.ip_bind or config.ip
    ports = [("port", config.port)]
    if config.public_port != config.port:
        ports.append(("port.public", config.public_port))
    sockets = []
    for flag, port in ports:
        try:
            sockets.append(listen(bind, port))
        except OSError as err:
            for sock in sockets:
                sock.close()
            raise bind_error(flag, bind, port, err) from None
    container = build_container(config)
    answer = _master_configuration_from_child(config.master)
    if answer is not None:
        load_storage_backends(container.tiers(), answer.storage_backends)
    container.store()
    # What every worker builds imports more modules (FastAPI's, pydantic's): build it once
    # here and drop it, so those modules live in pages the forked processes share (the
    # preloading of prefork servers).
    process_container(container, ProcessRole(heartbeats=False)).http_apps()
    run_dir = tempfile.mkdtemp(prefix="seaweed-volume-")
    try:
        supervisor = Supervisor(
            container,
            StoreView(run_dir),
            SharedFlags(),
            sockets,
            MetricsExchange(os.path.join(run_dir, "metrics")),
        )
        gc.collect()
        gc.freeze()  # leave the loaded objects' pages shared with the forked processes
        return supervisor.run()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


class Supervisor:
    def __init__(
        self,
        root: Container,
        view: StoreView,
        flags: SharedFlags,
        sockets: list[socket.socket],
        metrics: MetricsExchange | None = None,
    ) -> None:
        """``root``: the server's composition root, its store loaded; every forked process
        builds its own objects from it (:func:`.container.process_container`). ``metrics``:
        where workers hand their counters to the process answering ``/metrics``."""
        self.root = root
        self.config = config = root.config()
        self.store = root.store()
        self.view = view
        self.flags = flags
        self.sockets = sockets
        self.authority_pid = 0
        self.workers: dict[int, int] = {}
        """pid -> worker number."""
        self.deaths: list[float] = []
        self.authority_started = 0
        self._ready_fd = -1
        """The authority writes one byte here once it serves (first start only)."""
        self.metrics = metrics
        # -concurrentUploadLimitMB / -concurrentDownloadLimitMB hold for the whole server:
        # slot n is worker n's, the last one the authority's (which only reads them)
        self.uploads = SharedSlots(config.workers + 1)
        self.downloads = SharedSlots(config.workers + 1)

    def _limits(self, slot: int) -> SharedLimits:
        return SharedLimits(self.uploads, self.downloads, slot)

    # --- watching ------------------------------------------------------------------------------
    def run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
        # Like Go, serve gRPC before HTTP: the workers start once the authority listens.
        ready, self._ready_fd = os.pipe()
        self.authority_pid = self._fork(self._authority_main)
        os.close(self._ready_fd)
        self._ready_fd = -1
        with os.fdopen(ready, "rb") as started:
            if started.read(1) != b"1":
                os.waitpid(self.authority_pid, 0)
                log.error("the gRPC and heartbeat process failed to start (see above)")
                for sock in self.sockets:
                    sock.close()
                return 1
        for number in range(self.config.workers):
            self.workers[self._fork(functools.partial(self._worker_main, number))] = number
        log.info(
            "volume server %s:%d: %d HTTP workers, gRPC and heartbeat in pid %d",
            self.config.ip,
            self.config.port,
            self.config.workers,
            self.authority_pid,
        )
        while True:
            received = signal.sigwaitinfo(_WATCHED)
            if received.si_signo != signal.SIGCHLD:
                log.info("stopping (signal %d)", received.si_signo)
                return self._stop(0)
            failure = self._reap()
            if failure:
                log.error("%s; stopping the server", failure)
                return self._stop(1)

    def _reap(self) -> str:
        """Replace every process that died; a reason to give up, or ''."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return ""
            if pid == 0:
                return ""
            how = _describe(status)
            now = time.monotonic()
            self.deaths = [t for t in self.deaths if now - t < 60] + [now]
            if len(self.deaths) > RESTARTS_PER_MINUTE:
                return f"processes died {len(self.deaths)} times within a minute (last: {how})"
            if pid == self.authority_pid:
                log.error("the gRPC and heartbeat process (pid %d) %s; starting another", pid, how)
                self.authority_started += 1
                self.authority_pid = self._fork(self._authority_main)
            elif pid in self.workers:
                number = self.workers.pop(pid)
                log.error("HTTP worker %d (pid %d) %s; starting another", number, pid, how)
                if self.metrics is not None:
                    self.metrics.retire(pid)
                self.workers[self._fork(functools.partial(self._worker_main, number))] = number

    def _stop(self, code: int) -> int:
        """Go's order: unhealthy and no heartbeat, ``-preStopSeconds``, then stop serving."""
        self.flags.is_stopping = True
        for pid in self.workers:
            self._signal(pid, signal.SIGUSR1)  # /readyz turns unhealthy
        self._signal(self.authority_pid, signal.SIGTERM)
        self._wait_for({self.authority_pid}, self.config.pre_stop_seconds + 30)
        for pid in self.workers:
            self._signal(pid, signal.SIGTERM)
        self._wait_for(set(self.workers), 30)
        for pid in [self.authority_pid, *self.workers]:
            self._signal(pid, signal.SIGKILL)
        self._wait_for({self.authority_pid, *self.workers}, 5)
        for sock in self.sockets:
            sock.close()
        log.info("volume server stopped")
        return code

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    @staticmethod
    def _wait_for(pids: set[int], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        left = set(pids)
        while left:
            for pid in list(left):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    left.discard(pid)
            remaining = deadline - time.monotonic()
            if not left or remaining <= 0:
                return
            signal.sigtimedwait({signal.SIGCHLD}, min(remaining, 0.5))

    def _fork(self, main: Callable[[], None]) -> int:
        supervisor = os.getpid()
        pid = os.fork()
        if pid:
            return pid
        code = 0
        try:
            die_with_parent(supervisor)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
            for sig in _WATCHED:
                signal.signal(sig, signal.SIG_DFL)
            uvloop.install()
            main()
        except BaseException:  # a child must never return into the supervisor
            log.exception("process %d failed", os.getpid())
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)

    # --- the authority -------------------------------------------------------------------------
    def _authority_main(self) -> None:
        for sock in self.sockets:
            sock.close()
        if self.authority_started:
            # A replacement, forked from the load-time snapshot: follow what its predecessor
            # published before taking over.
            self.view.attach(self.store, authority=False)
            self.view.refresh()
        self.view.attach(self.store, authority=True)
        asyncio.run(self._authority())

    async def _authority(self) -> None:
        config, store, view, flags = self.config, self.store, self.view, self.flags
        objects = process_container(
            self.root, ProcessRole(shared_limits=self._limits(config.workers))
        )
        master_client = objects.master_client()
        ctx = objects.http_context()

        def announce() -> None:
            flags.is_heartbeating = master_client.is_heartbeating
            view.publish()

        store.events.subscribe(lambda _event: view.publish())
        grpc_server = start_grpc_server(
            objects.grpc_servicer(),
            config.ip_bind or config.ip,
            config.grpc_port,
            white_list=objects.guard().white_list,
            announce=announce,
        )
        install_metrics(ctx)
        if self.metrics is not None:
            PEER_SNAPSHOTS.append(self.metrics.peers)
        metrics_server = MetricsServer()
        if config.metrics_port:
            await metrics_server.start(
                config.metrics_ip or config.ip_bind or config.ip, config.metrics_port
            )
        master_client.start()
        if self._ready_fd >= 0:
            os.write(self._ready_fd, b"1")
            os.close(self._ready_fd)
        await _until_signalled()
        log.info("stopping: heartbeat off, waiting %ds before shutdown", config.pre_stop_seconds)
        flags.is_heartbeating = False
        await asyncio.to_thread(master_client.stop)
        if config.pre_stop_seconds > 0:
            await asyncio.sleep(config.pre_stop_seconds)
        await metrics_server.stop()
        grpc_server.stop(grace=2).wait()
        store.close()

    # --- a worker ------------------------------------------------------------------------------
    def _worker_main(self, number: int) -> None:
        self.view.attach(self.store, authority=False)
        asyncio.run(self._worker(number))

    async def _worker(self, number: int) -> None:
        config, store, flags = self.config, self.store, self.flags
        objects = process_container(
            self.root,
            ProcessRole(heartbeats=False, health=flags, shared_limits=self._limits(number)),
        )
        ctx = objects.http_context()
        apps = objects.http_apps()
        natives = [HttpServer(ctx, app, public, config.idle_timeout) for app, _, public in apps]
        for native, sock in zip(natives, self.sockets, strict=True):
            await native.start("", 0, sock=sock)
        install_metrics(ctx)
        stats.REGISTRY.collectors.clear()  # the store's gauges are the authority's to report
        publisher = asyncio.create_task(self._publish_metrics())
        log.info("HTTP worker %d serving (pid %d)", number, os.getpid())
        await _until_signalled(on_stopping=lambda: setattr(ctx, "is_stopping", True))
        ctx.is_stopping = True
        for native in natives:
            await native.stop()
        publisher.cancel()
        if self.metrics is not None:
            self.metrics.publish()
        store.close()

    async def _publish_metrics(self) -> None:
        if self.metrics is None:
            return
        while True:
            try:
                await asyncio.to_thread(self.metrics.publish)
            except OSError as err:
                log.warning("publishing metrics: %s", err)
            await asyncio.sleep(SNAPSHOT_SECONDS)


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """A child ends when its supervisor dies, even by SIGKILL: orphaned workers would go on
    serving a stale view on the inherited sockets and keep a restarted server from binding
    them (``prctl(PR_SET_PDEATHSIG)``; nothing acknowledged is lost by a kill -9)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG): errno %d", ctypes.get_errno())
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


async def _until_signalled(on_stopping: Callable[[], None] | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_stopping is not None:
        loop.add_signal_handler(signal.SIGUSR1, on_stopping)
    await stop.wait()


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by signal {os.WTERMSIG(status)}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"
