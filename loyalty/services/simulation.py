"""Preview and back-test: what marketers need before publishing.

``simulate`` evaluates a hypothetical purchase or event, for an existing or a hypothetical
member, against the published version in force or the draft, at a chosen instant; ``preview``
does the same for a real purchase payload. ``backtest`` replays the purchases recorded in a date
range under a draft (or any version) and compares the points with what was actually issued.
None of them writes anything.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from loyalty.domain.basket import Basket, Event, PurchaseLine
from loyalty.domain.errors import CurrencyMismatch, InvalidAmount, InvalidRequest, MemberNotFound
from loyalty.domain.money import Money, format_minor
from loyalty.domain.time import utc
from loyalty.rules.engine import (
    CompiledProgram,
    Evaluation,
    MemberFacts,
    days_window_start,
    period_bounds,
)
from loyalty.rules.program import Program
from loyalty.services.context import Context
from loyalty.services.earning import member_facts
from loyalty.services.members import MemberRef, resolve_member_id
from loyalty.services.programs import validated
from loyalty.services.purchases import RecordPurchase, check_totals
from loyalty.services.segment_facts import replayed_history_facts

DRAFT = "draft"
PUBLISHED = "published"


@dataclass(frozen=True)
class Simulation:
    version: int | None  # None: the draft
    points: int
    earn_base: str | None
    explanation: tuple[dict[str, object], ...]


@dataclass(frozen=True)
class HypotheticalMember:
    """A member who does not exist, described by the facts rules may ask about."""

    tier: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    enrolled_at: datetime | None = None
    purchases: int = 0
    spend_last_days: dict[int, str] = field(default_factory=dict)  # days -> "120.00"


@dataclass(frozen=True)
class Simulate:
    program_id: str
    at: datetime  # the instant of the purchase or event
    basket: Basket | None = None
    event: Event | None = None
    member: MemberRef | None = None
    hypothetical: HypotheticalMember | None = None
    version: str | int = PUBLISHED  # "published" (in force at ``at``), "draft", or a number


def _compiled(uow: Any, program: Program, version: str | int, at: datetime) -> CompiledProgram:
    if version == PUBLISHED:
        return uow.programs.compiled_at(program, at)
    if version == DRAFT:
        draft = uow.programs.draft(program.id)
        if draft is None:
            raise InvalidRequest("this program has no draft", field="version")
        return CompiledProgram(validated(draft.document, program), currency=program.currency,
                               time_zone=program.time_zone, version=None)
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidRequest("version is 'published', 'draft' or a version number",
                             field="version")
    return uow.programs.compiled(program, version)


def _as_simulation(evaluation: Evaluation, program: Program, with_base: bool) -> Simulation:
    base = format_minor(evaluation.earn_base, program.currency) if with_base else None
    return Simulation(evaluation.version, evaluation.points, base, evaluation.explanation())


def simulate(ctx: Context, command: Simulate) -> Simulation:
    if (command.basket is None) == (command.event is None):
        raise InvalidRequest("simulate a purchase or an event", field="purchase")
    if (command.member is None) == (command.hypothetical is None):
        raise InvalidRequest("name an existing member or describe a hypothetical one",
                             field="member")
    at = utc(command.at)
    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(command.program_id)
        compiled = _compiled(uow, program, command.version, at)
        if command.basket is not None and command.basket.currency != program.currency:
            raise CurrencyMismatch(f"this program runs in {program.currency}",
                                   field="purchase.currency")
        if command.member is not None:
            facts = _existing_member(uow, program, compiled, command.member, at)
        else:
            member = command.hypothetical
            assert member is not None
            spend: dict[int, int] = {}
            for days, amount in member.spend_last_days.items():
                try:
                    spend[days] = Money.parse(amount, program.currency).minor
                except InvalidAmount as error:
                    raise InvalidAmount(error.detail, field=(
                        f"hypothetical_member.spend_last_days.{days}")) from None
            facts = MemberFacts(tier=member.tier, attributes=member.attributes,
                                enrolled_at=member.enrolled_at, purchases=member.purchases,
                                spend_last_days=spend)
    if command.basket is not None:
        evaluation = compiled.evaluate_purchase(replace(command.basket, occurred_at=at), facts)
        return _as_simulation(evaluation, program, True)
    assert command.event is not None
    return _as_simulation(compiled.evaluate_event(replace(command.event, occurred_at=at), facts),
                          program, False)


def _existing_member(uow: Any, program: Program, compiled: CompiledProgram, ref: MemberRef,
                     at: datetime) -> MemberFacts:
    member_id = resolve_member_id(uow, program.id, ref)
    profile = uow.members.facts_row(program.id, member_id)
    if profile is None:
        raise MemberNotFound(f"there is no member {member_id!r} in this program",
                             field="member")
    status, attributes, enrolled_at = profile
    return member_facts(uow, program, compiled, member_id, at, status=status.value,
                        attributes=attributes, enrolled_at=enrolled_at, for_update=False)


def preview_purchase(ctx: Context, command: RecordPurchase) -> Simulation:
    """What posting this purchase would earn now, under the version in force; writes nothing."""
    at = utc(command.occurred_at)
    basket = Basket(currency=command.currency, occurred_at=at, lines=command.lines,
                    shipping=command.shipping, channel=command.channel, store=command.store,
                    promo_codes=command.promo_codes,
                    paid_with_gift_cards=command.paid_with_gift_cards)
    check_totals(basket, command.totals)
    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(command.program_id)
    if command.currency != program.currency:
        raise CurrencyMismatch(f"this program runs in {program.currency}, not {command.currency}",
                               field="currency")
    return simulate(ctx, Simulate(command.program_id, at, basket=basket, member=command.member))


@dataclass(frozen=True)
class RuleTotal:
    rule_id: str
    name: str
    points: int
    purchases: int


@dataclass(frozen=True)
class Backtest:
    program_id: str
    version: int | None  # None: the draft
    since: datetime
    until: datetime
    purchases: int
    members: int
    points_issued: int  # what the purchases actually earned
    points_simulated: int  # what they would have earned
    difference: int
    members_affected: int  # members whose points would differ
    rules: tuple[RuleTotal, ...]


def backtest(ctx: Context, program_id: str, since: datetime, until: datetime,
             version: str | int = DRAFT) -> Backtest:
    """Replay the purchases of [since, until) under ``version``. Members are seen with their
    current profile; purchase counts, spend and per-member limits are replayed as they
    accumulate in the period (awards before ``since`` are not counted)."""
    since, until = utc(since), utc(until)
    if until <= since:
        raise InvalidRequest("until must be after since", field="until")
    issued = simulated = count = 0
    per_member: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_rule: dict[str, list[Any]] = {}
    awarded: dict[tuple[str, str, Any], int] = defaultdict(int)
    ever: dict[str, set[str]] = defaultdict(set)
    spent: dict[str, int] = defaultdict(int)
    profiles: dict[str, tuple[str, dict[str, Any], datetime]] = {}
    history: dict[str, list[tuple[datetime, int, str]]] = defaultdict(list)
    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(program_id)
        compiled = _compiled(uow, program, version, since)
        windows = compiled.spend_windows()
        tracked = compiled.tracked_rules()
        for row in uow.history.between(program_id, since, until):
            (_, member_id, occurred_at, currency, lines, shipping, channel, store, promo_codes,
             paid_points, paid_cards, points_earned) = row
            if member_id not in profiles:
                status, attributes, enrolled_at = uow.members.facts_row(program_id, member_id)
                profiles[member_id] = (status.value, attributes, enrolled_at)
            status, attributes, enrolled_at = profiles[member_id]
            past = history[member_id]
            facts = MemberFacts(
                status=status, attributes=attributes, enrolled_at=enrolled_at,
                purchases=len(past),
                spend_last_days={days: sum(total for when, total, _ in past
                                           if when >= days_window_start(occurred_at, days,
                                                                        program.tz))
                                 for days in windows},
                awarded={(rule.id, cap.period): awarded[(member_id, rule.id, (
                    cap.period, period_bounds(cap.period, occurred_at, program.tz)[0]))]
                    for rule in tracked for cap in rule.limits.per_member},
                rules_ever=frozenset(ever[member_id]),
                budget_left={rule.id: rule.limits.budget - spent[rule.id]
                             for rule in tracked if rule.limits.budget is not None},
                **replayed_history_facts(past, occurred_at, compiled.needs, program.tz),
            )
            basket = Basket(
                currency=currency, occurred_at=occurred_at, shipping=shipping, channel=channel,
                store=store, promo_codes=tuple(promo_codes or ()),
                paid_with_points=paid_points, paid_with_gift_cards=paid_cards,
                lines=tuple(PurchaseLine(
                    sku=line["sku"], quantity=line["quantity"], unit_price=line["unit_price"],
                    discount=line["discount"], tax=line["tax"], category=line["category"],
                    tags=tuple(line.get("tags") or ())) for line in lines),
            )
            evaluation = compiled.evaluate_purchase(basket, facts)
            count += 1
            issued += points_earned
            simulated += evaluation.points
            per_member[member_id][0] += points_earned
            per_member[member_id][1] += evaluation.points
            past.append((occurred_at, basket.total, channel))
            for result in evaluation.applied:
                total = per_rule.setdefault(result.rule_id, [result.name, 0, 0])
                total[1] += result.points
                total[2] += 1
                ever[member_id].add(result.rule_id)
                spent[result.rule_id] += result.points
                for rule in tracked:
                    if rule.id == result.rule_id:
                        for cap in rule.limits.per_member:
                            start = period_bounds(cap.period, occurred_at, program.tz)[0]
                            awarded[(member_id, rule.id, (cap.period, start))] += result.points
    return Backtest(
        program_id=program_id, version=compiled.version, since=since, until=until,
        purchases=count, members=len(per_member), points_issued=issued,
        points_simulated=simulated, difference=simulated - issued,
        members_affected=sum(1 for a, b in per_member.values() if a != b),
        rules=tuple(RuleTotal(rule_id, name, points, purchases)
                    for rule_id, (name, points, purchases) in sorted(per_rule.items())),
    )
