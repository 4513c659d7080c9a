"""What every benchmark shares: the figures table, repeats, and the data they run on."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FASHION = ROOT / "examples" / "fashion-retailer.yaml"
PROGRAM = "fashion"


@dataclass
class Figure:
    """One measured figure: the value of each repeat, and how it relates to another figure."""

    key: str
    label: str
    unit: str
    values: list[float]
    ratio_to: str | None = None  # the key of the figure this one is compared with
    target: float | None = None  # the ratio the issue asks for, at least
    lower_is_better: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.values)


@dataclass
class Results:
    size: str
    figures: list[Figure] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(f"  {figure.label}: {_fmt(figure.median, figure.unit)} {figure.unit} "
              f"(median of {len(figure.values)})", flush=True)
        return figure

    def get(self, key: str) -> Figure | None:
        return next((f for f in self.figures if f.key == key), None)

    def ratio(self, figure: Figure) -> float | None:
        base = self.get(figure.ratio_to) if figure.ratio_to else None
        if base is None or not base.median:
            return None
        return figure.median / base.median

    def table(self) -> str:
        rows = ["| figure | median | min | max | unit | ratio | target |",
                "|---|---:|---:|---:|---|---:|---|"]
        for f in self.figures:
            ratio = self.ratio(f)
            ratio_text = f"{ratio:.2f}x {f.ratio_to}" if ratio is not None else ""
            target = ""
            if f.target is not None and ratio is not None:
                met = ratio >= f.target
                target = f"≥ {f.target}x {'met' if met else 'MISSED'}"
            elif f.target is not None and f.lower_is_better:
                met = f.median < f.target
                target = f"< {f.target:g} {f.unit} {'met' if met else 'MISSED'}"
            rows.append(f"| {f.label} | {_fmt(f.median, f.unit)} | {_fmt(min(f.values), f.unit)} "
                        f"| {_fmt(max(f.values), f.unit)} | {f.unit} | {ratio_text} | {target} |")
        return "\n".join(rows)

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = directory / f"bench-{self.size}-{stamp}.json"
        document = {
            "machine": machine(), "size": self.size, "started_at": self.started_at,
            "figures": [dict(asdict(f), median=f.median, min=min(f.values),
                             max=max(f.values), ratio=self.ratio(f)) for f in self.figures],
        }
        path.write_text(json.dumps(document, indent=2) + "\n")
        return path


def _fmt(value: float, unit: str) -> str:
    if unit in ("ms", "s", "MiB", "x"):
        return f"{value:,.2f}"
    return f"{value:,.0f}"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        sqlite_version = __import__("sqlite3").sqlite_version
    except ImportError:  # pragma: no cover
        sqlite_version = "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": memory,
            "python": platform.python_version(), "platform": platform.platform(),
            "sqlite": sqlite_version, "commit": _commit()}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def repeat(times: int, run: Callable[[int], float]) -> list[float]:
    """``run(i)`` returns one measurement; ``times`` of them."""
    return [run(index) for index in range(times)]


def interleaved(times: int, *runs: Callable[[int], float]) -> list[list[float]]:
    """``times`` measurements of each of ``runs``, taken in turn (a0 b0 a1 b1 ...): every
    posting grows the database and later runs are slower, so two figures compared as a ratio
    are measured side by side, on the same state, rather than one after all of the other."""
    values: list[list[float]] = [[] for _ in runs]
    for index in range(times):
        for run, measured in zip(runs, values, strict=True):
            measured.append(run(index))
    return values


def rate(count: int, work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def fashion_document() -> dict[str, Any]:
    return yaml.safe_load(FASHION.read_text())
