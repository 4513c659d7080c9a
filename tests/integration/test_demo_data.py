"""Generated demo data in the database: members enrolled in bulk, the purchase stream through
the importer, redemptions, and ``loyalty demo generate`` (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from api.cli import main
from loyalty.adapters.orm import (
    Base,
    MemberRow,
    PurchaseReturnRow,
    PurchaseRow,
    RedemptionRow,
)
from loyalty.domain.errors import IdentityAlreadyUsed
from loyalty.domain.members import Identity
from loyalty.services.demo_data import (
    already_generated,
    enroll_members_bulk,
    ensure_program,
    load_generated,
    redeem_generated,
)
from loyalty.services.generator import (
    GeneratedReturn,
    GeneratorConfig,
    card_number,
    email,
    generate,
)
from loyalty.services.members import EnrollMember, enroll_member, find_member, get_member
from loyalty.services.points import get_balance
from loyalty.services.verification import verify_ledger

FASHION = Path(__file__).resolve().parents[2] / "examples" / "fashion-retailer.yaml"
GIFT_VOUCHER = {
    "id": "voucher-5",
    "name": "5 EUR off",
    "cost": 500,
    "kind": "amount_off",
    "amount": "5.00",
}


def fashion(**more: Any) -> dict[str, Any]:
    return {**yaml.safe_load(FASHION.read_text()), **more}


def a_generated_program(ctx, document: dict[str, Any] | None = None) -> None:
    ensure_program(
        ctx, "fashion", "Fashion", "EUR", "Europe/Paris", document or fashion(), "cli:tests"
    )


def a_config(ctx, **changes: Any) -> GeneratorConfig:
    fields: dict[str, Any] = {
        "program_id": "fashion",
        "members": 40,
        "purchases": 300,
        "days": 90,
        "end": ctx.clock.now(),
        "seed": 3,
        "currency": "EUR",
        "time_zone": "Europe/Paris",
    }
    fields.update(changes)
    return GeneratorConfig(**fields)


def count(ctx, row: Any, **where: Any) -> int:
    query = select(func.count()).select_from(row)
    for name, value in where.items():
        query = query.where(getattr(row, name) == value)
    with ctx.uow(read_only=True) as uow:
        return uow.session.scalar(query)


def rows_per_table(ctx, member_id: str) -> dict[str, int]:
    """How many rows of each table name the member."""
    found = {}
    with ctx.uow(read_only=True) as uow:
        for table in Base.metadata.sorted_tables:
            if "member_id" in table.c:
                rows = uow.session.scalar(
                    select(func.count()).select_from(table).where(table.c.member_id == member_id)
                )
                if rows:
                    found[table.name] = rows
    return found


def test_a_small_generated_run_into_the_database_leaves_a_ledger_that_verifies(ctx):
    a_generated_program(ctx)
    config = a_config(ctx)
    enroll_members_bulk(ctx, "fashion", 40, 3, enrolled_before=config.start)
    returns = sum(isinstance(item, GeneratedReturn) for item in generate(config))
    report = load_generated(ctx, config, batch_size=64)
    assert (report.imported, report.returns, report.rejected) == (300 + returns, returns, 0)
    assert count(ctx, PurchaseRow, program_id="fashion") == 300
    assert count(ctx, PurchaseReturnRow) == returns > 0
    redeemed = redeem_generated(ctx, config, 8)
    assert redeemed.burns == 8 and redeemed.points > 0 and redeemed.refused == 0
    assert count(ctx, PurchaseRow, program_id="fashion") == 308
    verification = verify_ledger(ctx)
    assert verification.ok and verification.members_checked == 40


def test_loading_the_same_stream_again_records_nothing_twice(ctx):
    a_generated_program(ctx)
    config = a_config(ctx, purchases=120)
    enroll_members_bulk(ctx, "fashion", 40, 3)
    first = load_generated(ctx, config)
    again = load_generated(ctx, config)
    assert (again.imported, again.duplicates, again.rejected) == (0, first.imported, 0)
    assert count(ctx, PurchaseRow) == 120
    assert already_generated(ctx, "fashion", 3) and not already_generated(ctx, "fashion", 4)
    assert verify_ledger(ctx).ok


def test_bulk_enrolled_members_are_found_by_identity_like_enrolled_ones(ctx):
    a_generated_program(ctx)
    ada = enroll_member(
        ctx,
        EnrollMember(
            "fashion",
            (Identity.of("card", "1234 5678"), Identity.of("email", "ada@example.com")),
            {"birth_date": "1990-12-10"},
        ),
    ).result
    enrolled = enroll_members_bulk(ctx, "fashion", 25, 9)
    assert (enrolled.enrolled, enrolled.already) == (25, 0)
    member = find_member(ctx, "fashion", Identity.of("card", card_number(9, 24)))
    assert find_member(ctx, "fashion", Identity.of("email", email(9, 24))) == member
    assert get_member(ctx, "fashion", member.id) == member
    assert [str(identity) for identity in member.identities] == [
        f"card:{card_number(9, 24)}",
        f"email:{email(9, 24)}",
    ]
    assert member.status == ada.status and member.enrolled_at < ada.enrolled_at
    balance = get_balance(ctx, "fashion", member.id)
    assert (balance.available, balance.pending) == (0, 0)
    written = rows_per_table(ctx, member.id)
    assert written == rows_per_table(ctx, ada.id)
    assert written["member_identities"] == 2 and written["member_balances"] == 1
    assert count(ctx, MemberRow, id=member.id) == 1
    assert verify_ledger(ctx).members_checked == 26


def test_enrolling_a_seed_again_adds_nothing_and_another_seed_adds_new_members(ctx):
    a_generated_program(ctx)
    enroll_members_bulk(ctx, "fashion", 30, 1, batch_size=7)
    again = enroll_members_bulk(ctx, "fashion", 40, 1, batch_size=7)
    other = enroll_members_bulk(ctx, "fashion", 30, 2)
    assert (again.enrolled, again.already) == (10, 30)
    assert (other.enrolled, other.already) == (30, 0)
    assert count(ctx, MemberRow, program_id="fashion") == 70


def test_an_identity_already_held_by_another_member_stops_the_enrolment_writing_nothing(ctx):
    a_generated_program(ctx)
    enroll_member(ctx, EnrollMember("fashion", (Identity.of("card", card_number(4, 12)),)))
    with pytest.raises(IdentityAlreadyUsed) as raised:
        enroll_members_bulk(ctx, "fashion", 20, 4, batch_size=5)
    assert raised.value.field == "seed"
    assert card_number(4, 12) in raised.value.detail
    assert count(ctx, MemberRow) == 1


def test_members_with_enough_points_redeem_catalogue_rewards_when_there_are_some(ctx):
    a_generated_program(ctx, fashion(rewards=[GIFT_VOUCHER]))
    config = a_config(ctx, purchases=400, days=120)
    enroll_members_bulk(ctx, "fashion", 40, 3, enrolled_before=config.start)
    load_generated(ctx, config)
    redeemed = redeem_generated(ctx, config, 15)
    assert redeemed.rewards > 0 and redeemed.rewards + redeemed.burns == 15
    assert count(ctx, RedemptionRow, reward_id="voucher-5") == redeemed.rewards
    assert verify_ledger(ctx).ok


# -- the command --------------------------------------------------------------------------


@pytest.fixture
def run(settings, monkeypatch):
    monkeypatch.setenv("LOYALTY_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, ["demo", "generate", *args])


def test_the_command_creates_the_program_and_generates_into_the_database(ctx, run):
    result = run(
        "--program",
        "fashion",
        "--members",
        "30",
        "--purchases",
        "150",
        "--days",
        "60",
        "--seed",
        "5",
        "--redemptions",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert "Created program 'fashion' (EUR, Europe/Paris)." in result.output
    assert "Members: 30 enrolled." in result.output
    assert "0 duplicates, 0 rejected" in result.output
    assert "Redemptions: 0 rewards, 3 till purchases paid partly with points" in result.output
    assert count(ctx, PurchaseRow, program_id="fashion") == 153
    assert verify_ledger(ctx).ok
    again = run("--program", "fashion", "--members", "30", "--purchases", "150", "--seed", "5")
    assert again.exit_code == 1
    assert "the purchases of seed 5 are already in 'fashion'" in again.output
    assert count(ctx, PurchaseRow, program_id="fashion") == 153


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_the_command_writes_a_purchase_file_for_the_importer(ctx, run, tmp_path, suffix):
    out = tmp_path / f"day.{suffix}"
    result = run(
        "--program",
        "fashion",
        "--members",
        "20",
        "--purchases",
        "80",
        "--days",
        "30",
        "--lines",
        "5",
        "--file",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "Wrote 80 purchases and " in result.output
    assert count(ctx, MemberRow) == 20 and count(ctx, PurchaseRow) == 0
    text = out.read_text()
    if suffix == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()]
        assert sum(row.get("type") != "return" for row in rows) == 80
        assert all(len(row["lines"]) == 5 for row in rows if row.get("type") != "return")
    else:
        assert text.startswith("external_id,source,member_id,identity,occurred_at,channel,")
    imported = CliRunner().invoke(main, ["import", "purchases", "--program", "fashion", str(out)])
    assert imported.exit_code == 0, imported.output
    assert "duplicates 0, rejected 0" in imported.output
    assert count(ctx, PurchaseRow) == 80


def test_the_command_refuses_a_file_that_is_neither_json_lines_nor_csv(ctx, run, tmp_path):
    result = run(
        "--program",
        "fashion",
        "--members",
        "5",
        "--purchases",
        "5",
        "--file",
        str(tmp_path / "out.xml"),
    )
    assert result.exit_code == 2
    assert "the file's extension is .jsonl or .csv" in result.output


def test_a_definition_with_mistakes_is_listed_and_creates_no_program(ctx, run, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("settings: {}\nrules:\n  - id: base\n    effect: {type: nothing}\n")
    result = run(
        "--program", "fashion", "--members", "5", "--purchases", "5", "--definition", str(broken)
    )
    assert result.exit_code == 1
    assert "rules[0].effect" in result.output
    assert count(ctx, MemberRow) == 0
    with ctx.uow(read_only=True) as uow:
        assert not uow.programs.exists("fashion")
