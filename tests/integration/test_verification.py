"""``loyalty ledger verify``: the invariants hold, and a breach is named."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text, update

from api.cli import main
from loyalty.adapters.orm import LotRow, MemberBalanceRow
from loyalty.services.verification import verify_ledger
from tests.builders import a_member, a_program, debit, earn


@pytest.fixture
def runner(settings, monkeypatch):
    monkeypatch.setenv("LOYALTY_DATABASE_URL", settings.database_url)
    return CliRunner()


def test_a_healthy_ledger_verifies(ctx, runner):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    debit(ctx, ada, 30)
    result = runner.invoke(main, ["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "Ledger verified: 1 members, no breach." in result.output


def test_a_summary_that_disagrees_with_the_entries_is_named_and_fails(ctx, runner):
    a_program(ctx)
    ada, grace = a_member(ctx), a_member(ctx)
    earn(ctx, ada, 100)
    earn(ctx, grace, 10)
    with ctx.uow() as uow:
        uow.session.execute(
            update(MemberBalanceRow)
            .where(MemberBalanceRow.member_id == ada.id)
            .values(available=MemberBalanceRow.available + 5)
        )
        uow.commit()
    report = verify_ledger(ctx)
    assert {b.member_id for b in report.breaches} == {ada.id}
    assert any("entries sum to 100" in b.problem for b in report.breaches)
    result = runner.invoke(main, ["ledger", "verify"])
    assert result.exit_code == 1
    assert ada.id in result.output and grace.id not in result.output


def test_a_lot_that_disagrees_with_its_movements_is_a_breach(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    with ctx.uow() as uow:
        uow.session.execute(update(LotRow).values(remaining=90))
        uow.commit()
    problems = [b.problem for b in verify_ledger(ctx).breaches]
    assert any("lot" in p and "movements took 0" in p for p in problems)
    assert any("its lots hold 90" in p for p in problems)


def test_the_database_refuses_to_change_or_delete_a_ledger_entry(ctx):
    a_program(ctx)
    earn(ctx, a_member(ctx), 100)
    for statement in ("UPDATE ledger_entries SET points = 1000", "DELETE FROM ledger_entries"):
        with ctx.uow() as uow, pytest.raises(Exception, match="append-only"):
            uow.session.execute(text(statement))
    assert verify_ledger(ctx).ok
