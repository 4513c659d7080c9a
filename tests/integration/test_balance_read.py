"""The balance read: most calls answer from one statement through the driver (the program's
version in force compiled already in this process, no tier ladder); the others read through
the repositories. Both must answer the same, to the point and the day. On SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from loyalty.adapters import repositories
from loyalty.adapters.bulk_repositories import PlainRepository
from loyalty.domain.errors import MemberNotFound, ProgramNotFound
from loyalty.services.points import get_balance
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from tests.builders import a_member, a_program, debit, earn

EXPIRY = {"expiry": {"mode": "after", "period": 3, "unit": "months", "rounding": "end_of_month"}}
INACTIVITY = {"expiry": {"mode": "inactivity", "period": 2, "unit": "months",
                         "rounding": "end_of_month"}}


@pytest.fixture
def one_statement_reads(monkeypatch):
    """The members whose balance the one-statement read answered (it found the member and
    the version in force compiled, without a tier ladder)."""
    answered: list[str] = []
    read, compiled = PlainRepository.balance_state, PlainRepository.compiled

    def counted_read(self, program_id, member_id, at):
        self.read_member = member_id
        return read(self, program_id, member_id, at)

    def counted_compiled(self, program_id, version, published_at):
        found = compiled(self, program_id, version, published_at)
        reading = getattr(self, "read_member", None)  # postings ask too
        if reading is not None and found is not None and found.ladder is None:
            answered.append(reading)
        return found

    monkeypatch.setattr(PlainRepository, "balance_state", counted_read)
    monkeypatch.setattr(PlainRepository, "compiled", counted_compiled)
    return answered


def both_reads(ctx, member_id):
    """The balance read in one statement, then by the repositories (nothing compiled)."""
    quick = get_balance(ctx, "shop", member_id)
    repositories._COMPILED.clear()
    return quick, get_balance(ctx, "shop", member_id)


@pytest.mark.parametrize("policy", [EXPIRY, INACTIVITY, {"pending": {"days": 14}}, {}],
                         ids=["expiry", "inactivity", "pending", "never-expires"])
def test_the_one_statement_balance_answers_what_the_repositories_answer(ctx, policy,
                                                                        one_statement_reads):
    a_program(ctx, **policy)
    ada, bob = a_member(ctx), a_member(ctx)
    with freeze_time("2026-01-10 12:00:00"):
        earn(ctx, ada, 40)
    with freeze_time("2026-02-20 12:00:00"):
        earn(ctx, ada, 60)
        earn(ctx, ada, 7)
    with freeze_time("2026-03-02 12:00:00"):
        if not policy.get("pending"):
            debit(ctx, ada, 25)
        earn(ctx, ada, 12)
    for moment in ("2026-03-03 12:00:00", "2026-04-30 21:59:00", "2026-05-01 12:00:00"):
        with freeze_time(moment):
            quick, thorough = both_reads(ctx, ada.id)
            assert quick == thorough
            quick, thorough = both_reads(ctx, bob.id)  # no lots at all
            assert quick == thorough
            assert (quick.available, quick.next_expiries, quick.pending_releases) == (0, (), ())
    # The one-statement read answered every first read (a posting had compiled the version;
    # the second of each pair found nothing compiled and read through the repositories).
    assert one_statement_reads == [ada.id, bob.id] * 3


def test_the_balance_reads_lots_past_their_expiry_as_gone_in_one_statement(ctx,
                                                                         one_statement_reads):
    a_program(ctx, **EXPIRY)
    ada = a_member(ctx)
    with freeze_time("2026-01-10 12:00:00"):
        earn(ctx, ada, 40)
    with freeze_time("2026-02-20 12:00:00"):
        earn(ctx, ada, 60)
    with freeze_time("2026-05-01 12:00:00"):  # January's points ended with April
        balance = get_balance(ctx, "shop", ada.id)
    assert one_statement_reads == [ada.id]
    assert (balance.available, balance.lifetime_expired) == (60, 40)
    assert [(e.points, e.last_usable_day.isoformat()) for e in balance.next_expiries] == [
        (60, "2026-05-31")]


def test_a_program_with_a_tier_ladder_reads_its_progress_through_the_repositories(
        ctx, one_statement_reads):
    create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", settings={}))
    save_draft(ctx, "shop", {"settings": {}, "rules": [], "tiers": {
        "measure": "spend", "window": {"type": "calendar_year"},
        "downgrade": {"policy": "period_end", "grace_days": 0}, "levels": [
            {"id": "member", "name": "Member", "threshold": "0"},
            {"id": "gold", "name": "Gold", "threshold": "50.00"}]}}, "cli:t")
    publish(ctx, "shop", "cli:t")
    ada = a_member(ctx)
    earn(ctx, ada, 60)
    balance = get_balance(ctx, "shop", ada.id)
    assert balance.tier is not None and balance.tier.tier == "gold"
    assert balance.available == 60
    assert one_statement_reads == []  # the progress is read through the repositories


def test_an_unknown_member_or_program_is_refused_as_before(ctx):
    a_program(ctx)
    earn(ctx, a_member(ctx), 5)
    with pytest.raises(MemberNotFound):
        get_balance(ctx, "shop", "mem_nobody")
    with pytest.raises(ProgramNotFound):
        get_balance(ctx, "elsewhere", "mem_nobody")
