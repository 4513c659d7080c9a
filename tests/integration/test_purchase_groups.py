"""Group commit: ``record_purchases`` posts the plain purchases of a group in one transaction
and ends exactly where posting them one by one would (the group's first, in one
transaction, then the others alone, in the order given).

The twin programs, rows and table snapshots are the bulk lane's (``test_bulk_lane``): a group
holds the same kinds of purchase a batch file does (plain ones, a debtor's, a burn, a closed
member, unknown members, another currency, a repeated purchase, a reused key, a replay, a
purchase in the future, totals that do not add up).
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from loyalty.adapters.bulk_repositories import PlainRepository
from loyalty.adapters.orm import IdempotencyRecordRow, PurchaseRow
from loyalty.services import purchases
from loyalty.services.points import get_balance
from loyalty.services.purchases import RecordPurchase, record_purchases
from loyalty.services.verification import verify_ledger
from tests.builders import a_member, a_program, a_purchase, earn
from tests.integration.test_bulk_lane import (
    DEFINITIONS,
    NOW,
    answer,
    assert_it_ends_as_single,
    one_by_one,
    open_program,
    the_rows,
)
from tests.integration.test_concurrency import run_together


def purchases_of(program_id: str, people) -> list[tuple[int, RecordPurchase]]:
    """The bulk lane's rows that are purchases (a group holds no returns)."""
    return [(line, row) for line, row in the_rows(program_id, people)
            if isinstance(row, RecordPurchase)]


@pytest.fixture
def alone(monkeypatch):
    """The commands ``record_purchases`` posted alone (``record_purchase``), in order."""
    posted: list[RecordPurchase] = []
    real = purchases.record_purchase

    def spy(ctx, command):
        posted.append(command)
        return real(ctx, command)

    monkeypatch.setattr(purchases, "record_purchase", spy)
    return posted


def in_one_group(ctx, rows, alone) -> tuple[dict[int, tuple], list[int], list[int]]:
    """The group's answers by line, the lines it posted together, and those it posted alone
    (in their order)."""
    outcomes = record_purchases(ctx, [row for _, row in rows])
    answers = {line: answer(None, outcome) if isinstance(outcome, Exception)
               else answer(outcome, None) for (line, _), outcome in zip(rows, outcomes,
                                                                       strict=True)}
    line_of = {id(row): line for line, row in rows}
    posted_alone = [line_of[id(command)] for command in alone]
    together = [line for line, _ in rows if line not in posted_alone
                and answers[line][0] == "recorded"]
    return answers, together, posted_alone


@pytest.mark.parametrize("definition", list(DEFINITIONS))
def test_a_group_ends_exactly_as_its_purchases_posted_one_by_one(ctx, alone, definition):
    document, plain = DEFINITIONS[definition]
    group_rows = purchases_of("group", open_program(ctx, "group", document))
    single_rows = dict(purchases_of("single", open_program(ctx, "single", document)))

    with freeze_time(NOW):
        grouped, together, posted_alone = in_one_group(ctx, group_rows, alone)
        order = together + posted_alone  # then the refused ones, which write nothing
        order += [line for line, _ in group_rows if line not in order]
        single = one_by_one(ctx, [(line, single_rows[line]) for line in order])

    assert_it_ends_as_single(ctx, "group", group_rows, grouped, single)
    # Where the rules read nothing of the past, the first plain purchase of each member that
    # owes nothing went together: ada's (by card, or by id: one of the two), cy's first
    # (before her burn) and eve's. Else every purchase was posted alone.
    if plain:
        assert len(together) == 3
        assert Counter(grouped[line][0] for line in together) == Counter(recorded=3)
    else:
        assert together == []
    assert Counter(answer[0] for answer in grouped.values()) == Counter(
        recorded=10, MemberNotActive=1, MemberNotFound=2, CurrencyMismatch=1, replayed=2,
        IdempotencyKeyReused=2, InvalidRequest=2)


def test_the_keys_a_group_claimed_for_purchases_it_did_not_post_are_given_back(ctx, alone):
    """A purchase the group leaves to be posted alone (here: a closed member's, refused)
    keeps no claim of its keys: posted again later, it is refused again, not replayed."""
    group_rows = purchases_of("group", open_program(ctx, "group", DEFINITIONS["plain"][0]))
    refused = next(row for _, row in group_rows if row.external_id == "D-1")  # dan is closed

    with freeze_time(NOW):
        record_purchases(ctx, [row for _, row in group_rows])
        again = record_purchases(ctx, [refused])

    assert type(again[0]).__name__ == "MemberNotActive"
    with ctx.uow(read_only=True) as uow:
        keys = uow.session.scalars(select(IdempotencyRecordRow.key).where(
            IdempotencyRecordRow.program_id == "group")).all()
    assert not [key for key in keys if "D-1" in key]


def test_a_group_that_fails_as_a_whole_posts_each_purchase_alone(ctx, alone, monkeypatch):
    """A unique key a concurrent transaction took first (or a deadlock) fails the group's
    transaction: it writes nothing, and each purchase is posted alone."""
    a_program(ctx)
    members = [a_member(ctx) for n in range(4)]
    for member in members:
        earn(ctx, member, 10, external_id=f"FIRST-{member.id}")  # the program is compiled
    real = PlainRepository.write
    failures = []

    def fail_once(self, **rows):
        if not failures:
            failures.append(len(rows["purchases"]))
            raise IntegrityError("INSERT", None, Exception("taken by a concurrent posting"))
        return real(self, **rows)

    monkeypatch.setattr(PlainRepository, "write", fail_once)
    commands = [a_purchase(member, "25.00", external_id=f"G-{n}")
                for n, member in enumerate(members)]

    outcomes = record_purchases(ctx, commands)

    assert failures == [4]  # the group's one write, of the four purchases
    assert alone == commands
    assert [o.result.external_id for o in outcomes] == ["G-0", "G-1", "G-2", "G-3"]
    assert [get_balance(ctx, "shop", m.id).available for m in members] == [35] * 4
    assert verify_ledger(ctx).ok


def test_groups_posted_concurrently_earn_each_purchase_once(ctx):
    """Eight threads post groups of the same twelve purchases of six members, each in its
    own order: each purchase earns once, every answer is its purchase's, and the ledger
    verifies (on PostgreSQL the groups lock their members in id order)."""
    a_program(ctx)
    members = [a_member(ctx) for n in range(6)]
    for member in members:
        earn(ctx, member, 10, external_id=f"FIRST-{member.id}")
    commands = [a_purchase(members[n % 6], "5.00", external_id=f"C-{n}") for n in range(12)]

    def post(thread: int):
        mine = list(commands)
        random.Random(thread).shuffle(mine)
        return record_purchases(ctx, mine)

    answered = run_together(8, post)

    errors = [o for group in answered for o in group if isinstance(o, Exception)]
    assert not errors, errors[:3]
    recorded = [o for group in answered for o in group if not o.replayed]
    assert sorted(o.result.external_id for o in recorded) == sorted(c.external_id
                                                                   for c in commands)
    assert len({o.result.purchase_id for group in answered for o in group}) == 12
    assert [get_balance(ctx, "shop", m.id).available for m in members] == [20] * 6
    with ctx.uow(read_only=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(PurchaseRow)) == 6 + 12
    assert verify_ledger(ctx).ok
