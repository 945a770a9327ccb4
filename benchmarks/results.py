"""Where the benchmark scripts keep their latest figures: ``benchmarks/results/<name>.json``,
read by ``benchmarks/report.py`` to draw ``docs/benchmarks.png`` and the README table."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time

RESULTS_DIR = os.path.join(os.path.dirname(__file__), "results")


def store_result(name: str, figures: dict) -> str:
    """Keep ``figures``; a run of some measures only replaces those rows of ``results``."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    if os.path.exists(path) and "results" in figures:
        with open(path) as src:
            previous = json.load(src).get("results", {})
        figures = {**figures, "results": {**previous, **figures["results"]}}
    record = {
        "measured": time.strftime("%Y-%m-%d", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}",
        **figures,
    }
    with open(path, "w") as out:
        json.dump(record, out, indent=2)
        out.write("\n")
    return path


def status_bytes(pid: int, field: str) -> int:
    """A memory figure of ``/proc/<pid>/status`` in bytes: ``VmRSS`` now, ``VmHWM`` the peak."""
    with open(f"/proc/{pid}/status") as src:
        for line in src:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    return 0


def load_results() -> dict[str, dict]:
    found = {}
    if os.path.isdir(RESULTS_DIR):
        for entry in sorted(os.listdir(RESULTS_DIR)):
            if entry.endswith(".json"):
                with open(os.path.join(RESULTS_DIR, entry)) as src:
                    found[entry[: -len(".json")]] = json.load(src)
    return found


def alternating(pairs: list, round_number: int) -> list:
    """``pairs`` in their order on even rounds, reversed on odd ones: the machine's speed
    drifts, so neither server should always go first."""
    return pairs if round_number % 2 == 0 else pairs[::-1]


def paired_ratio(ours: list[float], go: list[float]) -> float:
    """The median of the per-round ratios ours/Go: each round's pair ran back to back, so
    the machine's drift between rounds cancels (medians of each side alone keep it)."""
    return statistics.median(o / g for o, g in zip(ours, go, strict=True))
