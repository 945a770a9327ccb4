"""Prometheus metrics under Go's names (``weed/stats/metrics.go``), rendered in the text format.

A small registry instead of a client library: the hot path pays one dict update per counter
(GET is ~20 us end to end, so a generic client's label resolution and locking would show),
and the exposition must print numbers exactly as Go's ``promhttp`` does (``strconv``'s
shortest ``'g'`` form: ``1.795490982e+09``, ``0.0001``, ``8``). Families with labels print no
series until first used, unlabelled ones print from the start, both as in Go.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Final, TypeVar

_bisect_left: Final = bisect.bisect_left  # (compiled: no module attribute lookup per call)
NAMESPACE: Final = "SeaweedFS"
SUBSYSTEM: Final = "volumeServer"


def go_float(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 64)``: the shortest round-tripping digits, in
    exponent form when the decimal exponent is below -4 or at least 6 (``1e+06``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite here
    text = "".join(map(str, digits))
    point = len(text) + exponent  # position of the decimal point in ``text``
    exp10 = point - 1
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def exponential_buckets(start: float, factor: float, count: int) -> tuple[float, ...]:
    """``prometheus.ExponentialBuckets``."""
    return tuple(start * factor**i for i in range(count))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels_text(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = sorted(zip(names, values, strict=True))
    parts = [f'{name}="{_escape_label(value)}"' for name, value in pairs]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


_F = TypeVar("_F", bound="_Family")
_S = TypeVar("_S", bound="_Scalar")
_H = TypeVar("_H", bound="Histogram")


class _Family:
    kind = ""
    summed = True
    """Whole-server value = the sum over the server's processes (``-workers``)."""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def state(self) -> dict[tuple[str, ...], Any]:
        """A copy of the series, for another process to add in."""
        raise NotImplementedError

    def add_state(self, state: dict[tuple[str, ...], Any]) -> None:
        raise NotImplementedError

    def empty_copy(self: _F) -> _F:
        """The same family (name, help, labels, kind) with no series: a whole-server sum
        starts from one."""
        raise NotImplementedError

    def _order(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        """Series sort as Go's: by label values taken in label-name order."""
        return tuple(value for _, value in sorted(zip(self.label_names, labels, strict=True)))

    def header(self) -> list[str]:
        escaped = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        return [f"# HELP {self.name} {escaped}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class _Scalar(_Family):
    """A counter or gauge: one float per label tuple."""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self.values: dict[tuple[str, ...], float] = {} if labels else {(): 0.0}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        # acquire/release rather than ``with``: half the cost, and every request counts.
        lock = self._lock
        lock.acquire()
        try:
            self._add(labels, amount)
        finally:
            lock.release()

    def _add(self, labels: tuple[str, ...], amount: float) -> None:
        """The update itself; the caller holds the lock."""
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def get(self, *labels: str) -> float:
        return self.values.get(labels, 0.0)

    def touch(self, *labels: str) -> None:
        """Make the series exist (at 0) without changing it: what an increment and its
        decrement leave behind, for work done between two scrapes."""
        if labels not in self.values:
            with self._lock:
                self.values.setdefault(labels, 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self.values.items(), key=lambda item: self._order(item[0]))
        return [
            f"{self.name}{_labels_text(self.label_names, labels)} {go_float(value)}"
            for labels, value in items
        ]

    def state(self) -> dict[tuple[str, ...], Any]:
        with self._lock:
            return dict(self.values)

    def add_state(self, state: dict[tuple[str, ...], Any]) -> None:
        with self._lock:
            for labels, value in state.items():
                self.values[labels] = self.values.get(labels, 0.0) + value

    def empty_copy(self: _S) -> _S:
        total = type(self)(self.name, self.help, self.label_names)
        total.summed = self.summed
        total.values = {}
        return total


class Counter(_Scalar):
    kind = "counter"


class Gauge(_Scalar):
    kind = "gauge"
    summed = False

    def dec(self, *labels: str) -> None:
        lock = self._lock
        lock.acquire()
        try:
            self._add(labels, -1.0)
        finally:
            lock.release()

    def set(self, value: float, *labels: str) -> None:
        with self._lock:
            self.values[labels] = float(value)

    def replace(self, values: dict[tuple[str, ...], float]) -> None:
        """Every series at once, for gauges computed when scraped."""
        with self._lock:
            self.values = dict(values)


class Histogram(_Family):
    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(buckets)
        # Per label tuple: [count per bucket (the last is +Inf)..., sum]
        self.series: dict[tuple[str, ...], list[float]] = {}
        if not labels:
            self.series[()] = [0] * (len(self.buckets) + 1) + [0.0]

    def observe(self, value: float, *labels: str) -> None:
        lock = self._lock
        lock.acquire()
        try:
            self._add(value, labels)
        finally:
            lock.release()

    def _add(self, value: float, labels: tuple[str, ...]) -> None:
        """The observation itself; the caller holds the lock."""
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = [0] * (len(self.buckets) + 1) + [0.0]
        series[_bisect_left(self.buckets, value)] += 1
        series[-1] += value

    def count(self, *labels: str) -> int:
        series = self.series.get(labels)
        return int(sum(series[:-1])) if series else 0

    def lines(self) -> list[str]:
        with self._lock:
            items = [(labels, list(series)) for labels, series in self.series.items()]
        items.sort(key=lambda item: self._order(item[0]))
        out = []
        for labels, series in items:
            running: float = 0.0
            for bound, hits in zip((*self.buckets, math.inf), series[:-1], strict=True):
                running += hits
                le = f'le="{go_float(bound)}"'
                out.append(
                    f"{self.name}_bucket{_labels_text(self.label_names, labels, le)} "
                    f"{go_float(running)}"
                )
            label_text = _labels_text(self.label_names, labels)
            out.append(f"{self.name}_sum{label_text} {go_float(series[-1])}")
            out.append(f"{self.name}_count{label_text} {go_float(running)}")
        return out

    def state(self) -> dict[tuple[str, ...], Any]:
        with self._lock:
            return {labels: list(series) for labels, series in self.series.items()}

    def add_state(self, state: dict[tuple[str, ...], Any]) -> None:
        with self._lock:
            for labels, series in state.items():
                mine = self.series.setdefault(labels, [0] * (len(self.buckets) + 1) + [0.0])
                for i, value in enumerate(series):
                    mine[i] += value

    def empty_copy(self: _H) -> _H:
        total = type(self)(self.name, self.help, self.buckets, self.label_names)
        total.summed = self.summed
        total.series = {}
        return total


class Registry:
    """Families by name, plus collectors that refresh computed gauges before each scrape."""

    def __init__(self) -> None:
        self.families: dict[str, _Family] = {}
        self.collectors: list[Callable[[], None]] = []

    def _add(self, family: _F) -> _F:
        self.families[family.name] = family
        return family

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        return self._add(Counter(name, help_text, labels))

    def gauge(
        self, name: str, help_text: str, labels: Sequence[str] = (), summed: bool = False
    ) -> Gauge:
        """``summed``: a per-process amount (requests in flight, memory), added up over the
        server's processes; otherwise the reporting process's value stands."""
        gauge = Gauge(name, help_text, labels)
        gauge.summed = summed
        return self._add(gauge)

    def histogram(
        self, name: str, help_text: str, buckets: Iterable[float], labels: Sequence[str] = ()
    ) -> Histogram:
        return self._add(Histogram(name, help_text, tuple(buckets), labels))

    def render(self, others: Iterable[dict[str, dict]] = ()) -> str:
        """The text exposition format, families sorted by name as ``promhttp`` writes them;
        ``others``: :meth:`snapshot`s of the server's other processes, added in."""
        for collect in self.collectors:
            collect()
        families = self.families
        others = list(others)
        if others:
            families = self._with(others)
        out: list[str] = []
        for name in sorted(families):
            family = families[name]
            lines = family.lines()
            if lines:
                out.extend(family.header())
                out.extend(lines)
        return "\n".join(out) + "\n"

    def snapshot(self) -> dict[str, dict]:
        """The summed families' series, after the collectors ran."""
        for collect in self.collectors:
            collect()
        return {name: f.state() for name, f in self.families.items() if f.summed}

    def _with(self, others: list[dict[str, dict]]) -> dict[str, _Family]:
        """Copies of the summed families with ``others`` added (this registry unchanged)."""
        merged: dict[str, _Family] = {}
        for name, family in self.families.items():
            if not family.summed:
                merged[name] = family
                continue
            total = family.empty_copy()
            total.add_state(family.state())
            for other in others:
                total.add_state(other.get(name, {}))
            merged[name] = total
        return merged


def _name(short: str) -> str:
    return f"{NAMESPACE}_{SUBSYSTEM}_{short}"


REQUEST_BUCKETS: Final = exponential_buckets(0.0001, 2, 24)

REGISTRY: Final = Registry()
BUILD_INFO: Final = REGISTRY.gauge(
    f"{NAMESPACE}_build_info",
    "A metric with a constant '1' value labeled by version, commit, sizelimit, goos, and goarch "
    "from which SeaweedFS was built.",
    ("version", "commit", "sizelimit", "goos", "goarch"),
)
START_TIME: Final = REGISTRY.gauge(
    _name("start_time_seconds"), "Start time of the volume server, as seconds since UNIX epoch."
)
REQUESTS: Final = REGISTRY.counter(
    _name("request_total"), "Counter of volume server requests.", ("type", "code")
)
HANDLER: Final = REGISTRY.counter(
    _name("handler_total"), "Counter of volume server handlers.", ("type",)
)
VACUUM_COMPACT: Final = REGISTRY.counter(
    _name("vacuuming_compact_count"), "Counter of volume vacuuming Compact counter", ("success",)
)
VACUUM_COMMIT: Final = REGISTRY.counter(
    _name("vacuuming_commit_count"), "Counter of volume vacuuming commit counter", ("success",)
)
VACUUM_SECONDS: Final = REGISTRY.histogram(
    _name("vacuuming_seconds"),
    "Bucketed histogram of volume server vacuuming processing time.",
    REQUEST_BUCKETS,
    ("type",),
)
REQUEST_SECONDS: Final = REGISTRY.histogram(
    _name("request_seconds"),
    "Bucketed histogram of volume server request processing time.",
    REQUEST_BUCKETS,
    ("type",),
)
IN_FLIGHT_REQUESTS: Final = REGISTRY.gauge(
    _name("in_flight_requests"),
    "Current number of in-flight requests being handled by volume server.",
    ("type",),
    summed=True,
)
VOLUMES: Final = REGISTRY.gauge(
    _name("volumes"), "Number of volumes or shards.", ("collection", "type")
)
READ_ONLY_VOLUMES: Final = REGISTRY.gauge(
    _name("read_only_volumes"), "Number of read only volumes.", ("collection", "type")
)
MAX_VOLUMES: Final = REGISTRY.gauge(_name("max_volumes"), "Maximum number of volumes.")
DISK_SIZE: Final = REGISTRY.gauge(
    _name("total_disk_size"), "Actual disk size used by volumes.", ("collection", "type")
)
RESOURCE: Final = REGISTRY.gauge(_name("resource"), "Resource usage", ("name", "type"))
DISK_ERROR: Final = REGISTRY.gauge(
    _name("disk_error_status"), "Disk error status", ("name", "type")
)
DOWNLOAD_LIMIT: Final = REGISTRY.gauge(
    _name("concurrent_download_limit"), "Limit total concurrent download size."
)
UPLOAD_LIMIT: Final = REGISTRY.gauge(
    _name("concurrent_upload_limit"), "Limit total concurrent upload size."
)
IN_FLIGHT_DOWNLOAD: Final = REGISTRY.gauge(
    _name("in_flight_download_size"), "In flight total download size."
)
IN_FLIGHT_UPLOAD: Final = REGISTRY.gauge(
    _name("in_flight_upload_size"), "In flight total upload size."
)
MASTER_DISCONNECTIONS: Final = REGISTRY.counter(
    _name("master_disconnections"),
    "Counter of volume server disconnections from the master.",
    ("master",),
)
FILE_READ_FAILURES: Final = REGISTRY.counter(
    _name("file_read_failures"), "Counter of overall failed file read requests from clients."
)
FILE_READ_INVALID: Final = REGISTRY.counter(
    _name("file_read_invalid_needles"),
    "Counter of failed file read requests due to invalid needle IDs from clients.",
)
FILE_WRITE_FAILURES: Final = REGISTRY.counter(
    _name("file_write_failures"), "Counter of overall failed file write requests from clients."
)
STORAGE_IO_ERRORS: Final = REGISTRY.counter(
    _name("storage_io_error_total"),
    "Counter of storage read/write EIO errors on volumes and EC shards.",
)
IO_QUARANTINE: Final = REGISTRY.gauge(
    _name("io_quarantine"),
    "Number of volumes or EC shards quarantined due to storage IO errors.",
    ("kind",),
)
IO_QUARANTINE.set(0, "ec_shard")
IO_QUARANTINE.set(0, "volume")
REPLICATION_SECONDS: Final = REGISTRY.histogram(
    _name("replication_seconds"),
    "Bucketed histogram of replication operation duration in seconds.",
    REQUEST_BUCKETS,
    ("operation",),
)
REPLICATIONS: Final = REGISTRY.counter(
    _name("replication_operations_total"),
    "Counter of replication operations by type (write, delete) and result (success, failure).",
    ("operation", "result"),
)
REPLICATION_FAILURES: Final = REGISTRY.counter(
    _name("replication_failures_total"),
    "Counter of replication failures by operation and reason (timeout, connection_refused, "
    "context_cancelled, server_error).",
    ("operation", "reason"),
)
REPLICATION_TARGETS: Final = REGISTRY.histogram(
    _name("replication_targets"),
    "Histogram of replica targets count per replication operation.",
    (1, 2, 3, 4, 5),
)


# handler_total types (weed/stats/metrics_names.go)
WRITE_TO_LOCAL_DISK: Final = "writeToLocalDisk"
WRITE_TO_REPLICAS: Final = "writeToReplicas"
DOWNLOAD_LIMIT_COND: Final = "downloadLimitCondition"
UPLOAD_LIMIT_COND: Final = "uploadLimitCondition"
READ_PROXY_REQ: Final = "readProxyRequest"
READ_REDIRECT_REQ: Final = "readRedirectRequest"
EMPTY_READ_PROXY_LOC: Final = "emptyReadProxyLocaction"  # sic, Go's spelling
FAILED_READ_PROXY_REQ: Final = "failedReadProxyRequest"
ERROR_GET_NOT_FOUND: Final = "errorGetNotFound"
ERROR_GET_INTERNAL: Final = "errorGetInternal"
ERROR_WRITE_TO_LOCAL_DISK: Final = "errorWriteToLocalDisk"
ERROR_WRITE_TO_REPLICAS: Final = "errorWriteToReplicas"


# The families one request updates share one lock: what a request records takes it once.
_PER_REQUEST_LOCK: Final = threading.Lock()
for _family in (REQUESTS, REQUEST_SECONDS, IN_FLIGHT_REQUESTS, REPLICATION_TARGETS):
    _family._lock = _PER_REQUEST_LOCK
_NO_REPLICAS: Final = ()


def request_answered(label: str, status: str, seconds: float, stored_in: float = -1.0) -> None:
    """One answer of the file handlers: counted by method and status, timed by method.
    ``stored_in`` (an upload stored here without replicas, on the event loop): also the
    seconds its write to local disk took, with Go's zero replication targets
    (``ReplicatedWrite``) and the write's in-flight series made to exist (in flight only
    between two scrapes). One call and one lock for what Go records in five updates."""
    lock = _PER_REQUEST_LOCK
    lock.acquire()
    try:
        REQUESTS._add((label, status), 1.0)
        REQUEST_SECONDS._add(seconds, (label,))
        if stored_in >= 0:
            REQUEST_SECONDS._add(stored_in, (WRITE_TO_LOCAL_DISK,))
            REPLICATION_TARGETS._add(0, _NO_REPLICAS)
            IN_FLIGHT_REQUESTS.values.setdefault((WRITE_TO_LOCAL_DISK,), 0.0)
    finally:
        lock.release()


# read_only_volumes types
READ_ONLY_TYPES: Final = ("IsReadOnly", "noWriteOrDelete", "noWriteCanDelete", "isDiskSpaceLow")


def read_not_found(invalid_needle: bool = False) -> None:
    """Go's ``NotFound(w)`` (volume_server_handlers_read.go), with the invalid-needle count
    its callers add first."""
    if invalid_needle:
        FILE_READ_INVALID.inc()
    FILE_READ_FAILURES.inc()
    HANDLER.inc(ERROR_GET_NOT_FOUND)


def read_internal_error() -> None:
    """Go's ``InternalError(w)``."""
    FILE_READ_FAILURES.inc()
    HANDLER.inc(ERROR_GET_INTERNAL)
