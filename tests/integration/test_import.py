"""Bulk ingest of purchase files: streamed, batched, idempotent per row, crash-safe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from api.cli import main
from loyalty.adapters.orm import PurchaseRow
from loyalty.services.points import get_balance
from loyalty.services.verification import verify_ledger
from tests.builders import a_member, a_program

WHEN = (datetime.now(UTC) - timedelta(days=1)).isoformat()


def purchase(member_id: str, external_id: str, amount: str = "10.00") -> dict[str, object]:
    return {"member": {"id": member_id}, "external_id": external_id, "source": "till-1",
            "occurred_at": WHEN, "currency": "EUR",
            "lines": [{"sku": "A", "quantity": 1, "unit_price": amount}]}


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n"
                            for row in rows))
    return path


def purchases_in(ctx) -> int:
    with ctx.uow(read_only=True) as uow:
        return uow.session.scalar(select(func.count()).select_from(PurchaseRow))


@pytest.fixture
def run(settings, monkeypatch):
    monkeypatch.setenv("LOYALTY_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, ["import", "purchases", "--program", "shop",
                                              *args])


def test_a_file_imports_every_purchase_and_a_second_import_adds_nothing(ctx, run, tmp_path):
    a_program(ctx)
    ada = a_member(ctx)
    file = write_jsonl(tmp_path / "day.jsonl",
                       [purchase(ada.id, f"T{i}", "12.00") for i in range(25)])
    first = run("--batch-size", "10", str(file))
    assert first.exit_code == 0, first.output
    assert "Imported 25, duplicates 0, rejected 0" in first.output
    again = run(str(file))
    assert again.exit_code == 0 and "Imported 0, duplicates 25, rejected 0" in again.output
    assert purchases_in(ctx) == 25
    assert get_balance(ctx, "shop", ada.id).available == 25 * 12
    assert verify_ledger(ctx).ok


def test_bad_rows_are_reported_with_their_line_and_do_not_block_the_good_ones(ctx, run,
                                                                              tmp_path):
    a_program(ctx)
    ada = a_member(ctx)
    file = write_jsonl(tmp_path / "day.jsonl", [
        purchase(ada.id, "T1"),
        "{not json",
        {**purchase(ada.id, "T3"), "currency": "USD"},
        purchase("mem_nobody", "T4"),
        {**purchase(ada.id, "T5"), "lines": [{"sku": "A", "quantity": 1,
                                              "unit_price": "1.234"}]},
        purchase(ada.id, "T6"),
    ])
    result = run(str(file))
    assert result.exit_code == 1
    assert "Imported 2, duplicates 0, rejected 4" in result.output
    assert "line 2: not JSON" in result.output
    assert "line 3: currency:" in result.output
    assert "line 4:" in result.output and "line 5: lines.0.unit_price:" in result.output
    assert purchases_in(ctx) == 2
    assert verify_ledger(ctx).ok


def test_stop_on_error_keeps_what_came_before_and_stops(ctx, run, tmp_path):
    a_program(ctx)
    ada = a_member(ctx)
    file = write_jsonl(tmp_path / "day.jsonl",
                       [purchase(ada.id, "T1"), "{bad", purchase(ada.id, "T3")])
    result = run("--stop-on-error", str(file))
    assert result.exit_code == 1 and "stopped at line 2" in result.output
    assert purchases_in(ctx) == 1


def test_a_csv_file_groups_the_rows_of_one_purchase(ctx, run, tmp_path):
    a_program(ctx)
    a_member(ctx, "card:12345678")
    file = tmp_path / "day.csv"
    file.write_text(
        "external_id,source,identity,occurred_at,currency,sku,category,quantity,unit_price,tax\n"
        f"C1,till-2,card:12345678,{WHEN},EUR,A,shoes,2,10.00,0\n"
        f"C1,till-2,card:12345678,{WHEN},EUR,B,tops,1,5.00,0\n"
        f"C2,till-2,card:12345678,{WHEN},EUR,A,shoes,1,10.00,0\n")
    result = run(str(file))
    assert result.exit_code == 0, result.output
    assert "Imported 2" in result.output
    assert purchases_in(ctx) == 2


def test_an_import_killed_mid_file_finishes_exactly_when_run_again(ctx, settings, tmp_path):
    a_program(ctx)
    members = [a_member(ctx).id for _ in range(5)]
    rows = [purchase(members[i % 5], f"K{i}", "3.00") for i in range(3000)]
    file = write_jsonl(tmp_path / "big.jsonl", rows)
    command = [sys.executable, "-m", "api.cli", "import", "purchases", "--program", "shop",
               "--batch-size", "50", str(file)]
    environment = {**os.environ, "LOYALTY_DATABASE_URL": settings.database_url}
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2])
    assert process.stderr is not None
    for line in process.stderr:  # plain progress lines: the output is not a terminal
        if line.startswith("committed") and int(line.split()[1]) >= 200:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    partial = purchases_in(ctx)
    assert 200 <= partial < 3000 and partial % 50 == 0  # whole batches, never part of one
    finish = subprocess.run(command, env=environment, capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2], timeout=600)
    assert finish.returncode == 0, finish.stderr
    assert f"duplicates {partial}" in finish.stdout
    assert purchases_in(ctx) == 3000
    assert sum(get_balance(ctx, "shop", m).available for m in members) == 3000 * 3
    assert verify_ledger(ctx).ok
