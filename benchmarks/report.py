"""Draw ``docs/benchmarks.png`` and rewrite the README's benchmark table from the latest
figures the benchmark scripts stored in ``benchmarks/results/``.

Every figure is a ratio of ours to Go 4.48 measured in the same run (the median of the
per-round ratios where the script stored one); the targets are issue 5's.

Run: ``.venv/bin/python benchmarks/report.py`` (after ``weed_benchmark.py``,
``http_benchmark.py`` and ``large_file_benchmark.py``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from PIL import Image, ImageDraw

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from benchmarks.results import load_results

ROOT = os.path.join(os.path.dirname(__file__), "..")
README = os.path.join(ROOT, "README.md")
PLOT = os.path.join(ROOT, "docs", "benchmarks.png")
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


@dataclass(frozen=True)
class Row:
    label: str
    go: float
    ours: float
    target: float
    lower_is_better: bool = False
    unit: str = ""
    paired: float | None = None
    """The median of per-round ratios, when the script stored one (it cancels drift)."""

    @property
    def ratio(self) -> float:
        if self.paired is not None:
            return self.paired
        return self.ours / self.go if self.go else 0.0

    @property
    def met(self) -> bool:
        if self.lower_is_better:
            return self.ratio <= self.target
        return self.ratio >= self.target


GAP_CAUSES = {
    "weed benchmark writes": (
        "each multipart upload is still ~115 Python calls on the plain-write lane (parse, "
        "needle encoding, two pwrites, index, JSON answer), on the same 2 cores as the client "
        "and the Go master"
    ),
    "weed benchmark reads": (
        "fids are drawn with replacement, so most reads are first reads (decode the record, "
        "build the head) rather than kept-head hits; the send syscall is ~40% of a read here"
    ),
    "wrk GET 1 KiB": (
        "the loop's own cost per request (epoll, recv, send in uvloop: ~60% of samples) is "
        "the floor; the Python part of a kept-head hit is ~6 us"
    ),
    "wrk POST 1 KiB": (
        "interpreter work per upload even on the plain-write lane (~115 Python calls: parse, "
        "gzip of a compressible body, needle encoding, two pwrites, index, JSON answer, "
        "metrics) is ~75% of CPU (perf); Go does the same work compiled"
    ),
    "wrk POST fsync=true": (
        "Go batches fsync'd writes too (volume_write.go), and here both reach only 1-2 writes "
        "per fsync; we also fsync .idx (Go syncs .dat only), two fsyncs per batch"
    ),
}
"""Why a measure misses its target, shown in the table while it does (from profiles)."""


def rows(results: dict[str, dict]) -> list[Row]:
    out = []
    weed = results.get("weed", {}).get("results", {})
    for key, label, target in (
        ("write", "weed benchmark writes", 0.9),
        ("read", "weed benchmark reads", 1.0),
    ):
        if key in weed:
            figure = weed[key]
            out.append(
                Row(label, figure["go"], figure["ours"], target, False, "req/s", figure["ratio"])
            )
    if "peak RSS MB" in weed:
        figure = weed["peak RSS MB"]
        out.append(Row("peak RSS (weed benchmark)", figure["go"], figure["ours"], 2.0, True, "MB"))
    http = results.get("http", {}).get("results", {})
    for key, label, target in (
        ("GET", "wrk GET 1 KiB", 1.5),
        ("POST", "wrk POST 1 KiB", 1.2),
        ("POST fsync", "wrk POST fsync=true", 3.0),
    ):
        if key in http:
            figure = http[key]
            out.append(
                Row(label, figure["go"], figure["ours"], target, False, "req/s", figure["ratio"])
            )
    large = results.get("large_file", {})
    if large:
        figures = large["results"]
        out.append(
            Row(
                f"{large['size_mb']} MB GET",
                figures["go"]["mb_per_s"],
                figures["ours"]["mb_per_s"],
                0.5,
                unit="MB/s",
                paired=large.get("ratio"),
            )
        )
    return out


def table(found: list[Row], results: dict[str, dict]) -> str:
    lines = [
        "| measure | Go 4.48 | ours | ratio | target | | where a gap comes from |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in found:
        target = f"<= {row.target}x" if row.lower_is_better else f">= {row.target}x"
        lines.append(
            f"| {row.label} | {row.go:,.0f} {row.unit} | {row.ours:,.0f} {row.unit} | "
            f"{row.ratio:.2f}x | {target} | {'met' if row.met else 'gap'} | "
            f"{'' if row.met else GAP_CAUSES.get(row.label, '')} |"
        )
    large = results.get("large_file")
    if large:
        growth = large["results"]["ours"]["rss_growth_mb"]
        lines.append(
            f"\nThe {large['size_mb']} MB GET raised our RSS by {growth:.1f} MB "
            "(target: under 20 MB)."
        )
    dates = sorted({figures.get("measured", "") for figures in results.values()})
    machine = next((figures.get("machine") for figures in results.values()), "")
    lines.append(f"\nMeasured {', '.join(d for d in dates if d)} on {machine}.")
    return "\n".join(lines)


def draw(found: list[Row]) -> None:
    """Horizontal bars of ours/Go per measure; the line at 1.0 is parity, ticks are targets."""
    width, bar_height, left, right, top = 900, 34, 260, 40, 50
    height = top + bar_height * len(found) + 50
    image = Image.new("RGB", (width, height), "white")
    pen = ImageDraw.Draw(image)
    scale_max = max([2.0, *(row.ratio for row in found), *(row.target for row in found)]) * 1.1
    span = width - left - right

    def x(value: float) -> int:
        return left + int(span * value / scale_max)

    pen.text((10, 12), "seaweed-volume / Go 4.48 (same run; ticks: targets)", fill="black")
    for index, row in enumerate(found):
        y = top + index * bar_height
        colour = (60, 150, 80) if row.met else (200, 90, 60)
        pen.rectangle([left, y + 6, x(row.ratio), y + bar_height - 6], fill=colour)
        pen.text((10, y + 10), row.label, fill="black")
        pen.text((x(row.ratio) + 6, y + 10), f"{row.ratio:.2f}x", fill="black")
        pen.line([x(row.target), y + 2, x(row.target), y + bar_height - 2], fill="black", width=3)
    pen.line([x(1.0), top - 6, x(1.0), height - 40], fill=(90, 90, 90), width=1)
    for tick in range(int(scale_max) + 1):
        pen.text((x(tick) - 4, height - 32), f"{tick}x", fill="black")
    os.makedirs(os.path.dirname(PLOT), exist_ok=True)
    image.save(PLOT)


def main() -> None:
    results = load_results()
    found = rows(results)
    if not found:
        sys.exit("no results yet: run the benchmark scripts first")
    draw(found)
    with open(README) as src:
        text = src.read()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = f"{head}{START}\n{table(found, results)}\n{END}{tail}"
        with open(README, "w") as out:
            out.write(text)
    print(table(found, results))
    print(f"\nplot: {os.path.relpath(PLOT, ROOT)}")


if __name__ == "__main__":
    main()
