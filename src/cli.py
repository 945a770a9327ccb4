"""``seaweed-volume``: ``weed volume``'s flags, in Go's syntax and with two dashes.

Go's ``flag`` package accepts ``-name=value``, ``-name value``, ``--name=value`` and
``--name value``, and ``-name`` alone for booleans; ``-options FILE`` reads ``name=value``
lines. Every flag ``weed volume -h`` (4.48) lists is accepted; one we do not act on yet gets a
single warning line, never a crash.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from .adapters.http.throttle import parse_go_duration
from .config import VolumeServerConfig
from .core.goparse import GoNumError, parse_bool, parse_int
from .hostaddr import detected_host_address

MAX_DEFAULT_WORKERS = 8
"""The default ``-workers`` stops here: each worker costs ~30 MB of PSS (benchmarks/
workers_memory.py) and every admin change is published to all of them; more can be asked for."""

log = logging.getLogger("seaweed_volume")


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    kind: str  # "string" | "int" | "bool" | "duration"
    default: str
    help: str
    supported: bool = True
    ours: bool = False
    """Not a ``weed volume`` flag: an extension of ours (marked in ``-h``)."""


FLAGS: tuple[Flag, ...] = (
    Flag("compactionMBps", "int", "0", "limit background compaction or copying speed in MB/s"),
    Flag("concurrentDownloadLimitMB", "int", "0", "limit total concurrent download size"),
    Flag("concurrentUploadLimitMB", "int", "0", "limit total concurrent upload size"),
    Flag("cpuprofile", "string", "", "cpu profile output file", supported=False),
    Flag("dataCenter", "string", "", "current volume server's data center name"),
    Flag("debug", "bool", "false", "serves runtime profiling data", supported=False),
    Flag("debug.port", "int", "6060", "http port for debugging", supported=False),
    Flag("dir", "string", "/tmp", "directories to store data files. dir[,dir]..."),
    Flag("dir.idx", "string", "", "directory to store .idx files", supported=False),
    Flag("disk", "string", "", "[hdd|ssd|<tag>] hard drive or solid state drive or any tag"),
    Flag(
        "fileSizeLimitMB",
        "int",
        "256",
        "limit file size to avoid out of memory (uploads, and gzip data inflated)",
    ),
    Flag("hasSlowRead", "bool", "true", "prevent slow reads from blocking other requests"),
    Flag("id", "string", "", "volume server id. If empty, default to ip:port"),
    Flag("idleTimeout", "int", "30", "connection idle seconds"),
    Flag("images.fix.orientation", "bool", "false", "Adjust jpg orientation when uploading."),
    Flag(
        "index",
        "string",
        "memory",
        "needle map kind: memory, leveldb, leveldbMedium, leveldbLarge (Go's),"
        " sqlite or a plugin's (ours)",
    ),
    Flag("index.leveldbTimeout", "int", "0", "alive time for leveldb", supported=False),
    Flag("inflightDownloadDataTimeout", "duration", "1m0s", "inflight download wait timeout"),
    Flag("inflightUploadDataTimeout", "duration", "1m0s", "inflight upload wait timeout"),
    Flag("ip", "string", "", "ip or server name, also used as identifier"),
    Flag("ip.bind", "string", "", "ip address to bind to. If empty, default to -ip"),
    Flag("maintenanceMBps", "int", "0", "limit maintenance IO rate in MB/s"),
    Flag("master", "string", "localhost:9333", "comma-separated master servers"),
    Flag("max", "string", "8", "maximum numbers of volumes, count[,count]..."),
    Flag("maxHeaderBytes", "int", "1048576", "request line and headers, bytes (more: 431)"),
    Flag("maxHeaderCount", "int", "1000", "header lines per request (more: 431)"),
    Flag("maxUrlBytes", "int", "1048576", "request URL length, bytes (longer: 414)"),
    Flag("memprofile", "string", "", "memory profile output file", supported=False),
    Flag("metricsIp", "string", "", "metrics listen ip. If empty, default to -ip.bind or -ip"),
    Flag("metricsPort", "int", "0", "Prometheus metrics listen port"),
    Flag("minFreeSpace", "string", "", "min free disk space: percent (<=100) or bytes (10GiB)"),
    Flag("minFreeSpacePercent", "string", "1", "deprecated, use minFreeSpace"),
    Flag("mserver", "string", "", "deprecated, use -master"),
    Flag(
        "offsetBytes",
        "int",
        "4",
        "offset width of new volumes: 4 (Go's default build) or 5 (its 5BytesOffset build,"
        " as the PyPI weed); must match the Go builds of the cluster, which refuse volumes"
        " of the other width",
        ours=True,
    ),
    Flag("options", "string", "", "a file of command line options, optionName=optionValue"),
    Flag("port", "int", "8080", "http listen port"),
    Flag("port.grpc", "int", "0", "grpc listen port"),
    Flag("port.public", "int", "0", "port opened to public"),
    Flag("pprof", "bool", "false", "enable pprof http handlers", supported=False),
    Flag("preStopSeconds", "int", "10", "seconds between stopping heartbeats and stopping"),
    Flag("publicUrl", "string", "", "Publicly accessible address"),
    Flag("rack", "string", "", "current volume server's rack name"),
    Flag("readBufferSizeMB", "int", "4", "read buffer size for slow reads"),
    Flag("readHeaderTimeout", "duration", "30s", "time to receive a request's headers"),
    Flag("readMode", "string", "proxy", "[local|proxy|redirect] for non-local volumes"),
    Flag("securityFile", "string", "", "path to security.toml"),
    Flag("tags", "string", "", "comma-separated tag groups per data dir"),
    Flag(
        "tierConfig",
        "string",
        "",
        "a file of remote tiers in master.toml's [storage.backend.<type>.<id>] form, for types"
        " the master does not know (a plugin's); merged with the master's, this file first",
        ours=True,
    ),
    Flag("volume.allowUntrustedRemoteEndpoints", "bool", "false", "accept any S3 endpoint"),
    Flag("whiteList", "string", "", "comma separated Ip addresses having write permission"),
    Flag(
        "workers",
        "int",
        "cores",
        "processes serving HTTP (one more serves gRPC and the heartbeat); see docs/workers.md",
        ours=True,
    ),
)
FLAGS_BY_NAME = {flag.name: flag for flag in FLAGS}


def default_workers() -> str:
    """One HTTP worker per core this process may run on, at most ``MAX_DEFAULT_WORKERS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return str(max(1, min(cores, MAX_DEFAULT_WORKERS)))


DETECTED_DEFAULTS: dict[str, Callable[[], str]] = {
    "ip": detected_host_address,
    "workers": default_workers,
}
"""Defaults worked out at start-up: ``-ip`` is the machine's detected address (as Go's),
``-workers`` the number of cores."""


class UsageError(Exception):
    """Go's flag errors, e.g. ``flag provided but not defined: -x``."""


class HelpRequested(UsageError):
    """``-h``, ``-help`` (or the two-dash spellings): print the usage and exit 0."""


def _check_value(flag: Flag, value: str) -> str:
    try:
        if flag.kind == "int":
            parse_int(value)
        elif flag.kind == "bool":
            parse_bool(value)
        elif flag.kind == "duration":
            parse_go_duration(value)
    except (GoNumError, ValueError):
        raise UsageError(f'invalid value "{value}" for flag -{flag.name}: parse error') from None
    return value


def parse_flags(argv: Sequence[str]) -> dict[str, str]:
    """Flag values by name, as strings, in Go's ``flag`` syntax (plus ``-options`` files)."""
    values: dict[str, str] = {}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("-", "--") or not arg.startswith("-"):
            if arg == "--":
                break
            raise UsageError(f"unexpected argument {arg!r}")
        body = arg[2:] if arg.startswith("--") else arg[1:]
        name, has_value, value = body.partition("=")
        if name in ("h", "help"):
            raise HelpRequested
        flag = FLAGS_BY_NAME.get(name)
        if flag is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        if not has_value:
            if flag.kind == "bool":
                value = "true"
            elif i < len(args):
                value = args[i]
                i += 1
            else:
                raise UsageError(f"flag needs an argument: -{name}")
        values[name] = _check_value(flag, value)
    if "options" in values:
        try:
            options = read_options_file(values["options"])
        except OSError as err:
            raise UsageError(
                f"-options={values['options']}: cannot read: {err.strerror or err}"
            ) from None
        for name, value in options.items():
            values.setdefault(name, value)
    return values


def read_options_file(path: str) -> dict[str, str]:
    options: dict[str, str] = {}
    with open(path, encoding="utf-8") as src:
        for line in src:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, value = line.partition("=")
            name = name.strip().lstrip("-")
            if name in FLAGS_BY_NAME:
                options[name] = _check_value(FLAGS_BY_NAME[name], value.strip())
    return options


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def build_config(values: dict[str, str]) -> VolumeServerConfig:
    def get(name: str) -> str:
        if name in values:
            return values[name]
        detect = DETECTED_DEFAULTS.get(name)
        return detect() if detect else FLAGS_BY_NAME[name].default

    for name in values:
        if not FLAGS_BY_NAME[name].supported:
            log.warning("flag -%s is accepted but not supported yet; ignoring it", name)
    port = int(get("port"))
    return VolumeServerConfig(
        ip=get("ip"),
        ip_bind=get("ip.bind"),
        port=port,
        grpc_port=int(get("port.grpc")),
        public_port=int(get("port.public")),
        public_url=get("publicUrl"),
        dirs=_comma_list(get("dir")),
        max_volume_counts=[int(c) for c in _comma_list(get("max"))],
        disk_types=_comma_list(get("disk")),
        min_free_space=get("minFreeSpace") or get("minFreeSpacePercent"),
        index=get("index"),
        offset_bytes=int(get("offsetBytes")),
        master=get("mserver") or get("master"),
        data_center=get("dataCenter"),
        rack=get("rack"),
        file_size_limit_mb=int(get("fileSizeLimitMB")),
        read_mode=get("readMode"),
        pre_stop_seconds=int(get("preStopSeconds")),
        compaction_mbps=int(get("compactionMBps")),
        maintenance_mbps=int(get("maintenanceMBps")),
        security_file=get("securityFile"),
        tier_config=get("tierConfig"),
        white_list=_comma_list(get("whiteList")),
        concurrent_upload_limit_mb=int(get("concurrentUploadLimitMB")),
        concurrent_download_limit_mb=int(get("concurrentDownloadLimitMB")),
        inflight_upload_data_timeout=get("inflightUploadDataTimeout"),
        inflight_download_data_timeout=get("inflightDownloadDataTimeout"),
        fix_jpg_orientation=parse_bool(get("images.fix.orientation")),
        allow_untrusted_remote_endpoints=parse_bool(get("volume.allowUntrustedRemoteEndpoints")),
        idle_timeout=int(get("idleTimeout")),
        max_header_bytes=int(get("maxHeaderBytes")),
        max_header_count=int(get("maxHeaderCount")),
        max_url_bytes=int(get("maxUrlBytes")),
        read_header_timeout=get("readHeaderTimeout"),
        metrics_ip=get("metricsIp"),
        metrics_port=int(get("metricsPort")),
        workers=int(get("workers")),
    )


_DESCRIPTION = """\
Usage: seaweed-volume [flags]

  A pure-Python drop-in for the SeaweedFS volume server (`weed volume`, Go 4.48): serves
  storage for a Go master, with Go's HTTP and gRPC answers and Go's files on disk. Takes
  weed volume's flags as -name=value, -name value or --name=value.

Example:
  seaweed-volume -dir=/data/v1,/data/v2 -max=100,100 -master=localhost:9333 -port=8080

Flags ([ours]: not a weed volume flag; [ignored]: accepted for Go's command lines, not acted
on yet):"""


def _default_note(flag: Flag) -> str:
    if flag.name == "ip":
        detected = detected_host_address()
        return f' (default "{detected}": the first non-loopback IPv4 address of an up interface)'
    if flag.name == "workers":
        return f" (default {default_workers()}: one per core, at most {MAX_DEFAULT_WORKERS})"

    if flag.default in ("", "0", "false"):
        return ""
    if flag.kind in ("string", "duration"):
        return f' (default "{flag.default}")'
    return f" (default {flag.default})"


def usage() -> str:
    """The ``-h`` text: what this is, an example, then every flag as Go's ``flag`` lists it."""
    lines = [_DESCRIPTION]
    for flag in FLAGS:
        kind = "" if flag.kind == "bool" else f" {flag.kind}"
        marks = ("[ours] " if flag.ours else "") + ("" if flag.supported else "[ignored] ")
        lines.append(f"  -{flag.name}{kind}\n    \t{marks}{flag.help}{_default_note(flag)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        values = parse_flags(sys.argv[1:] if argv is None else argv)
        config = build_config(values)
    except HelpRequested:
        try:
            print(usage(), flush=True)
        except BrokenPipeError:  # `seaweed-volume -h | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UsageError as err:
        print(err, file=sys.stderr)
        print("Run seaweed-volume -h for the flags.", file=sys.stderr)
        return 2
    except ValidationError as err:
        for problem in err.errors():
            print(
                f"seaweed-volume: {problem['msg'].removeprefix('Value error, ')}", file=sys.stderr
            )
        return 2
    # Imported late: flag errors need none of this.
    from .plugins.manager import create_plugin_manager, needle_map_kinds, tier_backend_factories
    from .startup import StartupError, preflight

    try:
        manager = create_plugin_manager()
        preflight(config, needle_map_kinds(manager), tier_backend_factories(manager))
        from .server import serve  # the heavy imports, once the checks have passed

        return serve(config)
    except StartupError as err:
        print(f"seaweed-volume: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
