"""``make bench`` works: a tiny run of every figure (no timing is asserted; speed is measured by
``make bench`` itself, not by tests), and leaves no data behind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgresql
def test_a_tiny_benchmark_run_measures_every_figure_and_writes_them_as_json(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "tiny", "--results", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    [written] = tmp_path.glob("bench-tiny-*.json")
    document = json.loads(written.read_text())
    figures = {figure["key"]: figure for figure in document["figures"]}
    expected = {
        "rules", "sqlite.raw.single", "sqlite.raw.batched", "sqlite.engine", "sqlite.bulk",
        "sqlite.bulk.memory", "jobs.expire", "jobs.report.last-365-days-by-month", "jobs.tiers",
        "postgresql.raw.batched",
        *(f"sqlite.http.{kind}.{n}{part}" for kind in ("purchase", "balance")
          for n in (8, 32) for part in ("", ".p50", ".p99")),
        *(f"postgresql.{what}.{n}" for what in ("raw", "engine") for n in (1, 4, 8)),
        *(f"postgresql.http.purchase.{n}" for n in (1, 4, 8)),
        *(f"{database}.http.health.{n}{part}" for database, counts in (
            ("sqlite", (8, 32)), ("postgresql", (1, 4, 8))) for n in counts
          for part in ("", ".p50")),
    }
    assert expected <= set(figures)
    for figure in figures.values():
        assert len(figure["values"]) == 3 and all(value > 0 for value in figure["values"])
    assert figures["sqlite.engine"]["ratio_to"] == "sqlite.raw.single"
    assert figures["sqlite.bulk"]["ratio_to"] == "sqlite.raw.batched"
    assert figures["postgresql.http.purchase.8"]["ratio_to"] == "postgresql.raw.8"
    # and it leaves nothing behind (a full run's work directory holds gigabytes)
    [work] = re.findall(r"preparing [\d,]+ members in (\S+)/bench\.db", run.stdout)
    assert not Path(work).exists()
    assert document["machine"]["cores"] >= 1
    table = run.stdout[run.stdout.index("| figure |"):]
    assert table.count("\n|") >= len(expected)
