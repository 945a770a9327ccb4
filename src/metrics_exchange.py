"""``-workers``: how the process answering ``/metrics`` (and pushing to the gateway) sums the
counters of every process of the server.

Each HTTP worker writes a snapshot of its summed metric families to a private directory every
second (and when it stops); the authority adds the snapshots in when scraped, so the figures
lag at most a second. When a worker dies, the supervisor folds its counters and histograms into
a running *retired* snapshot (its per-process levels, such as memory and requests in flight,
die with it), so the server's counters never go backwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle

from .adapters.http.metrics import PROCESS, snapshot
from .core import stats
from .core.atomic_file import replace_file

log = logging.getLogger(__name__)

RETIRED = "retired"


class MetricsExchange:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    def _path(self, name: str | int) -> str:
        return os.path.join(self.directory, f"{name}.pickle")

    def publish(self) -> None:
        """A worker's current snapshot."""
        replace_file(self._path(os.getpid()), pickle.dumps(snapshot()), durable=False)

    def peers(self) -> list[tuple[dict, dict]]:
        """Every snapshot but this process's own (the authority renders its own live)."""
        found = []
        for name in os.listdir(self.directory):
            if not name.endswith(".pickle") or name == f"{os.getpid()}.pickle":
                continue
            loaded = self._load(os.path.join(self.directory, name))
            if loaded is not None:
                found.append(loaded)
        return found

    def retire(self, pid: int) -> None:
        """Fold a dead worker's counters into the retired snapshot."""
        dead = self._load(self._path(pid))
        if dead is None:
            return
        kept = tuple(
            _without_levels(part, registry)
            for part, registry in zip(dead, (PROCESS, stats.REGISTRY), strict=True)
        )
        retired = self._load(self._path(RETIRED)) or ({}, {})
        total = tuple(_added(a, b) for a, b in zip(retired, kept, strict=True))
        replace_file(self._path(RETIRED), pickle.dumps(total), durable=False)
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._path(pid))

    @staticmethod
    def _load(path: str) -> tuple[dict, dict] | None:
        try:
            with open(path, "rb") as src:
                # Unpickled: written by this server's own processes in their private directory.
                snapshot: tuple[dict, dict] | None = pickle.load(src)  # noqa: S301
                return snapshot
        except (OSError, pickle.UnpicklingError, EOFError) as err:
            if not isinstance(err, FileNotFoundError):
                log.warning("metrics snapshot %s: %s", path, err)
            return None


def _without_levels(part: dict[str, dict], registry: stats.Registry) -> dict[str, dict]:
    """Counters and histograms only: a gauge describes a living process."""
    return {
        name: state
        for name, state in part.items()
        if not isinstance(registry.families.get(name), stats.Gauge)
    }


def _added(a: dict[str, dict], b: dict[str, dict]) -> dict[str, dict]:
    total = {name: dict(series) for name, series in a.items()}
    for name, series in b.items():
        mine = total.setdefault(name, {})
        for labels, value in series.items():
            if isinstance(value, list):
                old = mine.get(labels) or [0] * len(value)
                mine[labels] = [x + y for x, y in zip(old, value, strict=True)]
            else:
                mine[labels] = mine.get(labels, 0.0) + value
    return total
