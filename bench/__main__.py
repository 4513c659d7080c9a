"""``make bench``: every figure of issue #8 in one run, on one machine, as ratios to what the
database driver itself can do.

    python -m bench [--size tiny|full] [--only sqlite,http,postgresql,jobs,rules]

Prints a Markdown table (median, min and max of the repeats; the ratio to the figure it is
compared with; the target) and writes it as JSON under ``bench/results/``. ``--size tiny``
runs everything on a few hundred rows, only to prove that it works (``make test`` does).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import data, http, jobs, posting, raw, rules_eval
from bench.common import PROGRAM, ROOT, Figure, Results, interleaved, machine, repeat

SIZES = {
    "tiny": {"members": 300, "single": 60, "batched": 2000, "engine": 60, "bulk": 600,
             "seconds": 0.25, "pg": 80, "lots": 2000, "history": 3000, "rules_seconds": 0.2},
    "full": {"members": 100_000, "single": 3000, "batched": 20_000, "engine": 2000,
             "bulk": 20_000, "seconds": 5.0, "pg": 1600, "lots": 1_000_000,
             "history": 1_000_000,
             "rules_seconds": 2.0},
}
REPEATS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--only", default="rules,sqlite,http,postgresql,jobs")
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    size, only = SIZES[args.size], set(args.only.split(","))
    results = Results(args.size)
    about = machine()
    print(f"Machine: {about['cpu']}, {about['cores']} cores, {about['memory']}, Python "
          f"{about['python']}, SQLite {about['sqlite']}, commit {about['commit']}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="loyalty-bench-"))
    try:  # the work directory holds gigabytes after a full run
        if "rules" in only:
            print("Rules evaluation", flush=True)
            results.add(Figure("rules", "rules: 20-rule program, 5-line basket, on one core",
                               "baskets/s", rules_eval.measure(size["rules_seconds"], REPEATS)))
        if only & {"sqlite", "http", "jobs"}:
            path = work / "bench.db"
            print(f"SQLite: preparing {size['members']:,} members in {path}", flush=True)
            dataset = data.prepare(f"sqlite:///{path}", size["members"])
            if "sqlite" in only:
                sqlite_figures(results, dataset, str(path), size, work)
            if "http" in only:
                http_figures(results, dataset, size, "sqlite", connections=(8, 32))
            if "jobs" in only:
                job_figures(results, dataset, size)
        if "postgresql" in only:
            postgres_figures(results, size, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(results.table())
    written = results.write(Path(args.results))
    print(f"\nWritten to {written.relative_to(ROOT) if written.is_relative_to(ROOT) else written}")


def sqlite_figures(results: Results, dataset: data.Dataset, path: str, size: dict,
                   work: Path) -> None:
    sample = raw.sample(dataset)
    print("SQLite: raw ceiling, engine, bulk ingest (synchronous=NORMAL, WAL); each ratio's "
          "two figures measured in turn", flush=True)
    memory: list[float] = []

    def bulk(i: int) -> float:
        file = work / f"bulk{i}.jsonl"
        data.write_jsonl(file, dataset.members, size["bulk"], seed=100 + i, tag=f"bulk{i}")
        seconds, peak = _import(dataset, file)
        memory.append(peak)
        return size["bulk"] / seconds

    single, engine = interleaved(
        REPEATS, lambda i: raw.sqlite_rate(path, dataset, sample, size["single"], batch=1,
                                           tag=f"rs{i}"),
        lambda i: posting.engine_rate(dataset, size["engine"], tag=f"e{i}"))
    batched, bulk_rates = interleaved(
        REPEATS, lambda i: raw.sqlite_rate(path, dataset, sample, size["batched"], batch=1000,
                                           tag=f"rb{i}"), bulk)
    results.add(Figure("sqlite.raw.single", "SQLite raw sqlite3, 1 purchase a transaction",
                       "purchases/s", single))
    results.add(Figure("sqlite.raw.batched", "SQLite raw sqlite3, 1,000 purchases a transaction",
                       "purchases/s", batched))
    results.add(Figure("sqlite.engine", "SQLite engine posting in-process (fashion, 5 lines)",
                       "purchases/s", engine, ratio_to="sqlite.raw.single", target=0.5))
    results.add(Figure("sqlite.bulk", "SQLite bulk ingest, `loyalty import purchases` JSONL, "
                       "rules on", "purchases/s", bulk_rates,
                       ratio_to="sqlite.raw.batched", target=0.5))
    results.add(Figure("sqlite.bulk.memory", "SQLite bulk ingest, peak memory of the importer",
                       "MiB", memory))


def _import(dataset: data.Dataset, file: Path) -> tuple[float, float]:
    """Seconds and peak resident memory (MiB) of ``loyalty import purchases`` on ``file``."""
    env = dict(os.environ, LOYALTY_DATABASE_URL=dataset.settings.database_url,
               LOYALTY_SQLITE_SYNCHRONOUS=dataset.settings.sqlite_synchronous)
    start = time.perf_counter()
    process = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "loyalty"), "import", "purchases",
         "--program", PROGRAM, str(file)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    output = process.stdout.read() if process.stdout else ""
    if status != 0:
        raise RuntimeError(f"the import failed: {output[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


_REQUESTS = {"purchase": "POST purchase", "balance": "GET balance",
             "health": "GET /health (no database: any request's floor)"}


def http_figures(results: Results, dataset: data.Dataset, size: dict, database: str,
                 connections: tuple[int, ...], raw_keys: dict[int, str] | None = None) -> None:
    print(f"{database}: HTTP, gunicorn (4 api.server.Worker workers, {http.parser()}) on "
          "127.0.0.1", flush=True)
    with http.server(dataset) as (port, key, members):
        http.load(port, key, members, kind="balance", connections=4, seconds=0.5, tag="warm")
        for kind in _REQUESTS:
            for n in connections:
                runs = [http.load(port, key, members, kind=kind, connections=n,
                                  seconds=size["seconds"], tag=f"{database}-{kind}-{n}-{i}")
                        for i in range(REPEATS)]
                name = f"{database}.http.{kind}.{n}"
                label = (f"{'PostgreSQL' if database == 'postgresql' else 'SQLite'} HTTP "
                         f"{_REQUESTS[kind]}, {n} connections")
                ratio_to = raw_keys.get(n) if raw_keys and kind == "purchase" else None
                results.add(Figure(name, label, "requests/s", [r["rps"] for r in runs],
                                   ratio_to=ratio_to, target=0.7 if ratio_to else None))
                results.add(Figure(f"{name}.p50", f"{label}, p50 latency", "ms",
                                   [r["p50_ms"] for r in runs]))
                if kind == "health":
                    continue  # the floor's rate and typical latency are what it is for
                p99 = Figure(f"{name}.p99", f"{label}, p99 latency", "ms",
                             [r["p99_ms"] for r in runs])
                if kind == "balance" and n == 32:
                    p99.target, p99.lower_is_better = 10.0, True
                results.add(p99)


def job_figures(results: Results, dataset: data.Dataset, size: dict) -> None:
    print(f"Jobs: expiring {size['lots']:,} lots", flush=True)
    values = []
    for _ in range(REPEATS):
        jobs.expired_lots(dataset, size["lots"])
        seconds, expired = jobs.expiry_seconds(dataset)
        assert expired >= size["lots"], (expired, size["lots"])
        values.append(seconds)
    results.add(Figure("jobs.expire", f"job: expire {size['lots']:,} lots", "s", values,
                       lower_is_better=True))
    print(f"Jobs: the analytics report over {size['history']:,} more purchases", flush=True)
    jobs.purchase_history(dataset, size["history"])
    runs = [jobs.report_seconds(dataset) for _ in range(REPEATS)]
    for label in runs[0]:
        key = "jobs.report." + label.replace(",", "").replace(" ", "-")
        results.add(Figure(key, f"analytics report, {label}, "
                           f"{size['history']:,}+ purchases, {size['members']:,} members", "s",
                           [run[label] for run in runs], lower_is_better=True))
    tier_figure(results, dataset, size)


def tier_figure(results: Results, dataset: data.Dataset, size: dict) -> None:
    """The tier review over ``size["members"]`` members of a second, tiered program (last of
    the jobs: its members do not weigh on the figures before it). The review is idempotent,
    so a second run over the same state would only read; each repeat first puts the tier
    rows back as the set-up left them (not timed), and so reviews the same periods and makes
    the same moves."""
    print(f"Jobs: the tier review over {size['members']:,} members", flush=True)
    tiered = jobs.tiered_members(dataset, size["members"])
    values, reviews = [], []
    for _ in range(REPEATS):
        jobs.reset_tiers(dataset, tiered)
        seconds, review = jobs.review_seconds(dataset)
        assert review.members == tiered.members == size["members"], (review, size["members"])
        values.append(seconds)
        reviews.append(review)
    counts = dataclasses.asdict(reviews[0])
    print(f"  the review: {counts}", flush=True)
    results.add(Figure("jobs.tiers", f"job: tier review over {size['members']:,} members", "s",
                       values, lower_is_better=True, extra=counts))


def postgres_figures(results: Results, size: dict, work: Path) -> None:
    import pgserver

    print("PostgreSQL: starting a server (pgserver)", flush=True)
    server = pgserver.get_server(work / "pg", cleanup_mode="stop")
    try:
        server.psql("CREATE DATABASE bench;")
        url = f"postgresql+psycopg://postgres@/bench?host={work / 'pg'}"
        dataset = data.prepare(url, size["members"])
        sample = raw.sample(dataset)
        raw_keys, engines = {}, {}
        for clients in (1, 4, 8):
            raw_keys[clients] = f"postgresql.raw.{clients}"
            raw_rates, engines[clients] = interleaved(
                REPEATS, lambda i, c=clients: raw.postgres_rate(
                    url, dataset, sample, size["pg"], batch=1, tag=f"r{c}x{i}", clients=c),
                lambda i, c=clients: posting.engine_rate(dataset, size["pg"], tag=f"e{c}x{i}",
                                                         clients=c))
            results.add(Figure(raw_keys[clients], f"PostgreSQL raw psycopg, {clients} client(s)",
                               "purchases/s", raw_rates))
        results.add(Figure("postgresql.raw.batched", "PostgreSQL raw psycopg, 1,000 a transaction",
                           "purchases/s", repeat(REPEATS, lambda i: raw.postgres_rate(
                               url, dataset, sample, size["batched"], batch=1000, tag=f"rb{i}"))))
        for clients in (1, 4, 8):
            results.add(Figure(f"postgresql.engine.{clients}",
                               f"PostgreSQL engine posting in-process, {clients} thread(s)",
                               "purchases/s", engines[clients],
                               ratio_to=raw_keys[clients]))
        http_figures(results, dataset, size, "postgresql", connections=(1, 4, 8), raw_keys=raw_keys)
        dataset.ctx.cache.clear()
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
