"""Evaluating a program's earn rules: a pure function with an explanation.

``CompiledProgram`` turns a ``ProgramDefinition`` into closures once (per program version; versions
are immutable, so the compiled form is cached by the caller), then evaluates baskets and events
against ``MemberFacts`` with no I/O. Every rule of the trigger is explained: whether it applied,
on what base, at what rate, for how many points, and which limit cut it.

Rules run in priority order (higher first; ties in document order). A ``multiplier`` multiplies
what the rules applied before it earned. ``stop`` ends the evaluation when its rule applies;
``exclusive`` does too and also takes back what earlier rules gave: its rule is then the only one.
Rounding happens per rule, per basket (default) or per line, in the program's rounding mode.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from loyalty.domain.basket import Basket, Event, PurchaseLine
from loyalty.domain.money import Money, RoundingMode, currency_exponent
from loyalty.domain.time import local_date, start_of_day, utc
from loyalty.rules.definition import (
    WEEKDAYS,
    AllOf,
    AnyOf,
    Comparison,
    FactScope,
    FactType,
    FixedPoints,
    Multiplier,
    NotOf,
    Op,
    PerCurrencyUnit,
    Period,
    PerUnit,
    ProgramDefinition,
    Rule,
    SegmentRef,
    Stacking,
    _facts_of,
    fact_scope,
    fact_type,
)
from loyalty.rules.settings import RoundingScope

_ZERO = Decimal(0)


@dataclass(frozen=True)
class MemberFacts:
    """What the rules may know of the member, gathered by the caller before evaluating."""

    tier: str | None = None
    status: str = "active"
    attributes: Mapping[str, Any] = field(default_factory=dict)
    enrolled_at: datetime | None = None
    purchases: int = 0  # purchases before this one
    spend_last_days: Mapping[int, int] = field(default_factory=dict)  # days -> minor units
    awarded: Mapping[tuple[str, Period], int] = field(default_factory=dict)  # this period
    rules_ever: frozenset[str] = frozenset()  # rules that ever gave this member points
    budget_left: Mapping[str, int] = field(default_factory=dict)  # rule id -> points left
    # gathered only when a rule in force (or the segment evaluated) asks about them:
    purchases_last_days: Mapping[int, int] = field(default_factory=dict)  # days -> count
    last_purchase_at: datetime | None = None  # the latest purchase before this one
    preferred_channel: str | None = None  # see ``PREFERRED_CHANNEL_DAYS``


# ``member.preferred_channel`` is the channel of most of the member's purchases over this many
# days (today included, in the program's zone); ties go to the channel of the latest of them,
# then to the first channel in alphabetical order.
PREFERRED_CHANNEL_DAYS = 365


@dataclass(frozen=True)
class FactNeeds:
    """Which costly member facts an evaluation needs: the caller gathers these and only these."""

    spend_days: frozenset[int] = frozenset()
    purchase_days: frozenset[int] = frozenset()
    purchase_count: bool = False
    last_purchase: bool = False
    preferred_channel: bool = False

    @property
    def history(self) -> bool:
        """Whether any of the facts that ``member_facts`` did not always gather is needed."""
        return bool(self.purchase_days or self.last_purchase or self.preferred_channel)


def days_window_start(at: datetime, days: int, tz: ZoneInfo) -> datetime:
    """Where "the last ``days`` days" before ``at`` begin: the start of the day ``days - 1``
    days before the day of ``at``, in the program's zone (``days: 1`` is today so far)."""
    return start_of_day(local_date(at, tz) - timedelta(days=days - 1), tz)


class RuleResult(NamedTuple):
    """What one rule did. (A named tuple: twenty are made per basket, and a frozen dataclass
    costs three times as much to build.)"""

    rule_id: str
    name: str
    applied: bool
    points: int
    detail: str
    base: str | None = None
    rate: str | None = None
    cut: str | None = None
    qualifying: bool = True

    def as_dict(self) -> dict[str, object]:
        entry: dict[str, object] = {"rule": self.rule_id, "name": self.name,
                                    "applied": self.applied, "points": self.points,
                                    "text": self.detail}
        if self.base is not None:
            entry["base"] = self.base
        if self.rate is not None:
            entry["rate"] = self.rate
        if self.cut is not None:
            entry["cut"] = self.cut
        return entry


class Evaluation(NamedTuple):
    """The points a basket or event earns, and every rule's result (a named tuple: cheap to
    make, immutable)."""

    points: int
    earn_base: int  # minor units; 0 for events
    version: int | None
    results: tuple[RuleResult, ...]

    @property
    def applied(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.applied)

    @property
    def qualifying_points(self) -> int:
        return sum(r.points for r in self.results if r.applied and r.qualifying)

    def explanation(self) -> tuple[dict[str, object], ...]:
        return tuple(result.as_dict() for result in self.results)


class _Context:
    """The facts of one evaluation; ``line`` is set while a line is being matched."""

    __slots__ = ("basket", "event", "line", "local", "member", "occurred", "weekday")

    def __init__(self, basket: Basket | None, event: Event | None, local: datetime,
                 occurred: datetime, member: MemberFacts) -> None:
        self.basket = basket
        self.event = event
        self.line: PurchaseLine | None = None
        self.local = local
        self.occurred = occurred
        self.member = member
        self.weekday = WEEKDAYS[local.weekday()]


Predicate = Callable[[_Context], bool]


class CompiledProgram:
    def __init__(self, definition: ProgramDefinition, *, currency: str, time_zone: str,
                 version: int | None = None) -> None:
        self.definition = definition
        self.currency = currency
        self.tz = ZoneInfo(time_zone)
        self.version = version
        self.exponent = currency_exponent(currency)
        self.unit = Decimal(10) ** self.exponent
        self.scale = 10 ** self.exponent
        earn = definition.settings.earn
        self.rounding: RoundingMode = earn.rounding
        self.decimal_rounding = earn.rounding.decimal_rounding
        self.per_line = earn.rounding_scope is RoundingScope.LINE
        self.earn = earn
        self.excluded_skus = frozenset(earn.excluded_skus)
        self.excluded_categories = frozenset(earn.excluded_categories)
        ordered = sorted(enumerate(definition.effective_rules()),
                         key=lambda item: (-item[1].priority, item[0]))
        self.rules = [_CompiledRule(rule, self) for _, rule in ordered]
        self.by_trigger: dict[str, list[_CompiledRule]] = {}
        for rule in self.rules:
            self.by_trigger.setdefault(rule.rule.trigger, []).append(rule)
        tiers = definition.tiers
        self.ladder = tiers.ladder(currency) if tiers is not None else None
        self.tier_multipliers = ({level.id: (level.name, level.multiplier)
                                  for level in tiers.levels if level.multiplier > 1}
                                 if tiers is not None else {})
        self.needs = _needs_of(self.rules)
        self._segments: dict[str, _CompiledRule] = {}

    def money_text(self, minor: int) -> str:
        """``format_minor`` without its generality: this runs for every rule of every basket."""
        if not self.exponent:
            return str(minor)
        units, cents = divmod(abs(minor), self.scale)
        return f"{'-' if minor < 0 else ''}{units}.{cents:0{self.exponent}d}"

    # -- what the caller must gather --------------------------------------------------------

    def spend_windows(self) -> set[int]:
        """The ``days`` of every ``member.spend_last_days`` condition."""
        return {days for rule in self.rules for days in rule.spend_days}

    def tracked_rules(self, trigger: str | None = None) -> list[Rule]:
        """Rules (of ``trigger``, or all) whose limits need the member's or everyone's past
        awards."""
        return [rule.rule for rule in self.rules if rule.rule.limits.tracked
                and (trigger is None or rule.rule.trigger == trigger)]

    def needs_purchase_count(self) -> bool:
        return any(rule.uses_purchases for rule in self.rules)

    @cached_property
    def purchases_read_history(self) -> bool:
        """Whether evaluating a purchase reads the member's past (a tier ladder, a capped or
        once-only purchase rule, a purchase count, a spend window, recent purchases or the
        preferred channel); when not, the member's profile alone is enough."""
        return (self.ladder is not None or bool(self.tracked_rules("purchase"))
                or self.needs_purchase_count() or bool(self.spend_windows())
                or self.needs.history)

    # -- segments -------------------------------------------------------------------------

    def _segment(self, segment_id: str) -> _CompiledRule:
        compiled = self._segments.get(segment_id)
        if compiled is None:
            segment = self.definition.segment(segment_id)
            if segment is None:
                raise KeyError(segment_id)
            # The segment's filter, compiled as the conditions of a rule that is never run.
            rule = Rule.model_construct(id=segment.id, name=segment.name, trigger="segment",
                                        conditions=SegmentRef(segment=segment.id),
                                        effect=FixedPoints(type="fixed", points=1))
            compiled = self._segments[segment_id] = _CompiledRule(rule, self)
        return compiled

    def segment_needs(self, segment_id: str) -> FactNeeds:
        """The member facts the segment's filter asks about (``KeyError``: no such segment)."""
        return _needs_of([self._segment(segment_id)])

    def in_segment(self, segment_id: str, member: MemberFacts, at: datetime) -> bool:
        """Whether the member, with these facts as of ``at``, belongs to the segment."""
        rule = self._segment(segment_id)
        occurred = utc(at)
        context = _Context(None, None, occurred.astimezone(self.tz), occurred, member)
        return bool(rule.predicate(context)) if rule.predicate is not None else True

    # -- evaluation -----------------------------------------------------------------------

    def earn_base(self, basket: Basket
                  ) -> tuple[int, list[tuple[PurchaseLine, Decimal]], Decimal]:
        """The basket's earn base in minor units; each line's share of it (0 for an excluded
        SKU or category: such lines still match conditions, they just earn no base); and the
        shipping's share."""
        lines: list[tuple[PurchaseLine, Decimal]] = []
        total = 0
        excluding = bool(self.excluded_skus or self.excluded_categories)
        before_discounts, include_tax = self.earn.before_discounts, self.earn.include_tax
        for line in basket.lines:
            if excluding and (line.sku in self.excluded_skus
                              or line.category in self.excluded_categories):
                lines.append((line, _ZERO))
                continue
            amount = line.quantity * line.unit_price
            if not before_discounts:
                amount -= line.discount
            if not include_tax:
                amount -= line.tax
            base = amount if amount > 0 else 0
            lines.append((line, Decimal(base)))
            total += base
        shipping = basket.shipping if self.earn.include_shipping else 0
        raw_total = total + shipping
        deduction = ((0 if self.earn.include_points_paid else basket.paid_with_points)
                     + (0 if self.earn.include_gift_cards else basket.paid_with_gift_cards))
        base_total = max(raw_total - deduction, 0)
        shipping_base = Decimal(shipping)
        if deduction and raw_total:
            # what was paid with points or gift cards does not earn: every part of the base
            # (lines and shipping alike) shrinks in proportion
            share = Decimal(base_total) / Decimal(raw_total)
            lines = [(line, base * share) for line, base in lines]
            shipping_base = shipping_base * share
        return base_total, lines, shipping_base

    def evaluate_purchase(self, basket: Basket, member: MemberFacts) -> Evaluation:
        occurred = utc(basket.occurred_at)
        context = _Context(basket, None, occurred.astimezone(self.tz), occurred, member)
        base_total, lines, shipping_base = self.earn_base(basket)
        evaluation = self._run(self.by_trigger.get("purchase", []), context,
                               _Base(base_total, lines, shipping_base))
        boost = self.tier_multipliers.get(member.tier or "")
        if boost is None or evaluation.points <= 0:
            return evaluation
        # The tier's earn multiplier, on everything the purchase's rules gave. Its points do not
        # qualify for tiers themselves (a tier must not lift itself).
        name, factor = boost
        extra = self.rounding.round(Decimal(evaluation.points) * (factor - 1))
        result = RuleResult(f"tier-{member.tier}", f"{name} tier", extra > 0, extra,
                            f"{name} tier: x{_plain(factor)} on {evaluation.points} points "
                            f"= +{extra}", str(evaluation.points), _plain(factor), None, False)
        return evaluation._replace(points=evaluation.points + max(extra, 0),
                                   results=(*evaluation.results, result))

    def evaluate_event(self, event: Event, member: MemberFacts) -> Evaluation:
        occurred = utc(event.occurred_at)
        context = _Context(None, event, occurred.astimezone(self.tz), occurred, member)
        return self._run(self.by_trigger.get(event.type, []), context, _Base(0, [], _ZERO))

    def _run(self, rules: list[_CompiledRule], context: _Context, base: _Base) -> Evaluation:
        results: list[RuleResult] = []
        append = results.append
        earned = 0
        ended_by: str | None = None
        for rule in rules:
            if ended_by is not None:
                append(rule.skipped(f"not evaluated: rule {ended_by} applied first"))
                continue
            result = rule.evaluate(context, base, earned)
            if result.applied:
                stacking = rule.stacking
                if stacking is not Stacking.STACK:
                    if stacking is Stacking.EXCLUSIVE:
                        results[:] = [
                            r if not r.applied else r._replace(
                                applied=False, points=0,
                                detail=f"{r.detail}; taken back: rule {rule.rule.id} is "
                                       "exclusive")
                            for r in results
                        ]
                        earned = 0
                    ended_by = rule.rule.id
                earned += result.points
            append(result)
        return Evaluation(earned, base.total, self.version, tuple(results))


class _Base(NamedTuple):
    total: int
    lines: list[tuple[PurchaseLine, Decimal]]
    shipping: Decimal


class _CompiledRule:
    __slots__ = (
        "_skipped", "detail_head", "detail_tail", "effect", "extra_factor", "fixed_points",
        "fixed_text", "hours", "limited", "line_only", "line_scoped", "off_days", "off_hours",
        "once", "outside_window", "predicate", "program", "purchase_days", "rate", "rate_text",
        "rule", "spend_days", "stacking", "uses_channel", "uses_last_purchase",
        "uses_purchases", "weekdays", "whole_rate", "window",
    )

    def __init__(self, rule: Rule, program: CompiledProgram) -> None:
        self.rule = rule
        self.program = program
        self.spend_days: set[int] = set()
        self.purchase_days: set[int] = set()
        self.uses_purchases = self.uses_last_purchase = self.uses_channel = False
        self.line_scoped = False
        facts = list(_facts_of(rule.conditions))
        # Conditions over lines alone are compiled to take the line itself: matching five lines
        # against them is the engine's innermost loop.
        self.line_only = bool(facts) and all(fact_scope(f) is FactScope.LINE for f in facts)
        self.predicate = self._compile(rule.conditions) if rule.conditions is not None else None
        self.window = _window(rule, program.tz)
        schedule = rule.schedule
        self.weekdays = frozenset(schedule.weekdays) if schedule and schedule.weekdays else None
        self.hours = ((_minutes(schedule.hours.from_), _minutes(schedule.hours.to))
                      if schedule and schedule.hours else None)
        self._skipped: dict[str, RuleResult] = {}
        self.outside_window = "outside its validity window"
        self.off_days = (f"not on its days ({', '.join(schedule.weekdays)})"
                         if schedule and schedule.weekdays else "")
        self.off_hours = (f"outside its hours ({schedule.hours.from_}-{schedule.hours.to})"
                          if schedule and schedule.hours else "")
        effect = rule.effect
        self.rate_text = (_plain(effect.points) if isinstance(effect, PerCurrencyUnit | PerUnit)
                          else _plain(effect.factor) if isinstance(effect, Multiplier) else None)
        self.rate = (effect.points / program.unit if isinstance(effect, PerCurrencyUnit)
                     else None)
        if isinstance(effect, PerCurrencyUnit):
            what = "earn base" if effect.over == "earn_base" else "matching lines"
            self.detail_head = f"{self.rate_text} point(s) per {program.currency} on "
            self.detail_tail = (f" {program.currency} ({what}), rounded {program.rounding.value}"
                                f"{' per line' if program.per_line else ''} = ")
        self.stacking = rule.stacking
        if isinstance(effect, FixedPoints):
            self.fixed_points, self.fixed_text = effect.points, f"{effect.points} points"
        if isinstance(effect, Multiplier):
            self.extra_factor = effect.factor - 1
        self.whole_rate = (int(effect.points) if isinstance(effect, PerUnit)
                           and effect.points == effect.points.to_integral_value() else None)
        self.effect = {PerCurrencyUnit: self._per_currency_unit, FixedPoints: self._fixed,
                       Multiplier: self._multiplier, PerUnit: self._per_unit}[type(effect)]
        limits = rule.limits
        self.limited = bool(limits.per_transaction or limits.per_member or limits.budget)
        self.once = limits.once_per_member

    def skipped(self, why: str) -> RuleResult:
        # Results are immutable: the common reasons are made once per rule, not per basket.
        result = self._skipped.get(why)
        if result is None:
            result = RuleResult(self.rule.id, self.rule.name, False, 0, why,
                                qualifying=self.rule.qualifying)
            if len(self._skipped) < 16:
                self._skipped[why] = result
        return result

    # -- conditions -------------------------------------------------------------------------

    def _compile(self, condition: Any) -> Predicate:
        """Compile the condition tree into one Python lambda.

        The tree becomes a single expression (``line.category == C0 and line.amount >= C1``)
        evaluated without a call per node: matching lines is the engine's innermost loop.
        Only fact accessors from the fixed fact table and operators appear in the source;
        every value of the document is passed in the namespace as a constant (``C0``, ``C1``),
        never written into the source.
        """
        namespace: dict[str, Any] = {"_normal": _normal, "_between": _between,
                                     "_EMPTY": (None, "", ()), **_COMPARE_NAMES}
        source = self._expression(condition, namespace)
        argument = "line" if self.line_only else "ctx"
        return eval(f"lambda {argument}: {source}", namespace)

    def _expression(self, condition: Any, namespace: dict[str, Any]) -> str:
        if isinstance(condition, AllOf | AnyOf):
            items = condition.all if isinstance(condition, AllOf) else condition.any
            joiner = " and " if isinstance(condition, AllOf) else " or "
            return "(" + joiner.join(self._expression(i, namespace) for i in items) + ")"
        if isinstance(condition, NotOf):
            return f"(not {self._expression(condition.not_, namespace)})"
        if isinstance(condition, SegmentRef):
            # the segment's filter, inlined: its facts become this rule's facts
            segment = self.program.definition.segment(condition.segment)
            assert segment is not None  # the definition checked it
            return self._expression(segment.filter, namespace)
        assert isinstance(condition, Comparison)
        return self._comparison(condition, namespace)

    def _constant(self, namespace: dict[str, Any], value: Any) -> str:
        name = f"C{sum(1 for key in namespace if key.startswith('C'))}"
        namespace[name] = value
        return name

    def _comparison(self, comparison: Comparison, namespace: dict[str, Any]) -> str:
        kind = fact_type(comparison.fact)
        assert kind is not None
        if fact_scope(comparison.fact) is FactScope.LINE:
            self.line_scoped = True
        if comparison.fact == "member.spend_last_days":
            assert comparison.days is not None
            self.spend_days.add(comparison.days)
        if comparison.fact == "member.purchases":
            self.uses_purchases = True
        if comparison.fact == "member.purchases_last_days":
            assert comparison.days is not None
            self.purchase_days.add(comparison.days)
        if comparison.fact == "member.days_since_last_purchase":
            self.uses_last_purchase = True
        if comparison.fact == "member.preferred_channel":
            self.uses_channel = True
        if self.line_only:
            read = f"line.{comparison.fact.removeprefix('line.')}"
        else:
            reader = self._constant(namespace, _reader(comparison.fact, comparison.days))
            read = f"{reader}(ctx)"
        convert = self._converter(kind)
        value = comparison.value
        op = comparison.op
        # Only attributes and event properties can hold booleans, which the document writes
        # as true/false: normalise those; every other fact is compared as it is read.
        fetch = f"_normal({read})" if kind is FactType.SCALAR else read
        if op is Op.EXISTS:
            return f"(({read} not in _EMPTY) is {bool(value)})"
        if op in (Op.IN, Op.NOT_IN):
            options = self._constant(namespace, frozenset(convert(item) for item in value))
            return f"({fetch} {'in' if op is Op.IN else 'not in'} {options})"
        if op is Op.CONTAINS:
            item = self._constant(namespace, convert(value))
            return f"({item} in ({read} or ()))"
        if op is Op.CONTAINS_ANY:
            items = self._constant(namespace, frozenset(convert(item) for item in value))
            return f"(not {items}.isdisjoint({read} or ()))"
        if op is Op.BETWEEN:
            low = self._constant(namespace, convert(value[0]))
            high = self._constant(namespace, convert(value[1]))
            return f"_between({fetch}, {low}, {high})"
        target = self._constant(namespace, convert(value))
        if op is Op.EQ:
            return f"({fetch} == {target})"
        if op is Op.NE:
            return f"({fetch} != {target})"
        return f"_{op.value.upper()}({fetch}, {target})"

    def _converter(self, kind: FactType) -> Callable[[Any], Any]:
        if kind is FactType.MONEY:
            return lambda text: Money.parse(text, self.program.currency).minor
        if kind is FactType.DATE:
            return lambda text: text if isinstance(text, date) else date.fromisoformat(text)
        return _normal

    # -- one evaluation -----------------------------------------------------------------------

    def evaluate(self, ctx: _Context, base: _Base, earned_before: int) -> RuleResult:
        rule = self.rule
        if self.window is not None:
            start, end = self.window
            if (start is not None and ctx.occurred < start) or (end is not None
                                                               and ctx.occurred >= end):
                return self.skipped(self.outside_window)
        if self.weekdays is not None and ctx.weekday not in self.weekdays:
            return self.skipped(self.off_days)
        if self.hours is not None and not _in_hours(ctx.local, *self.hours):
            return self.skipped(self.off_hours)
        matching = base.lines
        predicate = self.predicate
        if predicate is not None:
            if self.line_only:
                matching = [entry for entry in base.lines if predicate(entry[0])]
                if not matching:
                    return self.skipped("no line matches its conditions")
            elif self.line_scoped:
                matching = []
                for entry in base.lines:
                    ctx.line = entry[0]
                    if predicate(ctx):
                        matching.append(entry)
                ctx.line = None
                if not matching:
                    return self.skipped("no line matches its conditions")
            elif not predicate(ctx):
                return self.skipped("its conditions are not met")
        if self.once and rule.id in ctx.member.rules_ever:
            return self.skipped("already given to this member once")
        points, detail, base_text = self.effect(matching, base, earned_before)
        if points <= 0:
            return self.skipped(f"{detail}: nothing to give")
        cut = None
        if self.limited:
            points, cut = self._limit(points, ctx.member)
            if points <= 0:
                return RuleResult(rule.id, rule.name, False, 0, f"{detail}; {cut}", base_text,
                                  self.rate_text, cut, rule.qualifying)
        return RuleResult(rule.id, rule.name, True, points, detail, base_text, self.rate_text,
                          cut, rule.qualifying)

    def _fixed(self, matching: list[tuple[PurchaseLine, Decimal]], base: _Base,
               earned_before: int) -> tuple[int, str, str | None]:
        return self.fixed_points, self.fixed_text, None

    def _multiplier(self, matching: list[tuple[PurchaseLine, Decimal]], base: _Base,
                    earned_before: int) -> tuple[int, str, str | None]:
        points = self.program.rounding.round(Decimal(earned_before) * self.extra_factor)
        return (points, f"x{self.rate_text} on the {earned_before} points of the rules before "
                f"it = +{points}", str(earned_before))

    def _per_unit(self, matching: list[tuple[PurchaseLine, Decimal]], base: _Base,
                  earned_before: int) -> tuple[int, str, str | None]:
        total = sum([line.quantity for line, _ in matching])
        if self.whole_rate is not None:  # whole points per unit: no rounding to do
            points = self.whole_rate * total
        else:
            rate, rounding = self.rule.effect.points, self.program.rounding
            if self.program.per_line:
                points = sum(rounding.round(rate * line.quantity) for line, _ in matching)
            else:
                points = rounding.round(rate * total)
        return points, f"{self.rate_text} point(s) x {total} unit(s) = {points}", str(total)

    def _per_currency_unit(self, matching: list[tuple[PurchaseLine, Decimal]], base: _Base,
                           earned_before: int) -> tuple[int, str, str | None]:
        program = self.program
        rate = self.rate
        over_base = self.rule.effect.over == "earn_base"
        exact_base = Decimal(base.total) if over_base else sum([b for _, b in matching], _ZERO)
        if program.per_line:
            rounding = program.rounding
            amounts = [b for _, b in (base.lines if over_base else matching)]
            if over_base and base.shipping:
                amounts.append(base.shipping)
            points = sum(rounding.round(amount * rate) for amount in amounts)
        else:
            points = int((exact_base * rate).to_integral_value(rounding=program.decimal_rounding))
        base_text = program.money_text(int(exact_base.to_integral_value()))
        return points, f"{self.detail_head}{base_text}{self.detail_tail}{points}", base_text

    def _limit(self, points: int, member: MemberFacts) -> tuple[int, str | None]:
        limits = self.rule.limits
        cut: list[str] = []
        if limits.per_transaction is not None and points > limits.per_transaction:
            points = limits.per_transaction
            cut.append(f"capped at {limits.per_transaction} per transaction")
        for cap in limits.per_member:
            room = max(cap.points - member.awarded.get((self.rule.id, cap.period), 0), 0)
            if points > room:
                points = room
                cut.append(f"capped at {cap.points} per member per {cap.period.value} "
                           f"({room} left)")
        if limits.budget is not None:
            left = member.budget_left.get(self.rule.id, limits.budget)
            if points > left:
                points = max(left, 0)
                cut.append(f"the rule's budget of {limits.budget} has {max(left, 0)} left")
        return points, "; ".join(cut) or None


# -- helpers ----------------------------------------------------------------------------------


def _normal(value: Any) -> Any:
    """Compare booleans, numbers and texts as the document writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _safe(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def guarded(left: Any, right: Any) -> bool:
        try:
            return left is not None and compare(left, right)
        except TypeError:  # an attribute of another type than the rule expects
            return False
    return guarded


_COMPARE_NAMES = {
    "_GT": _safe(lambda a, b: a > b),
    "_GTE": _safe(lambda a, b: a >= b),
    "_LT": _safe(lambda a, b: a < b),
    "_LTE": _safe(lambda a, b: a <= b),
}


def _between(value: Any, low: Any, high: Any) -> bool:
    try:
        return value is not None and low <= _normal(value) <= high
    except TypeError:
        return False


def _needs_of(rules: list[_CompiledRule]) -> FactNeeds:
    return FactNeeds(
        spend_days=frozenset(days for rule in rules for days in rule.spend_days),
        purchase_days=frozenset(days for rule in rules for days in rule.purchase_days),
        purchase_count=any(rule.uses_purchases for rule in rules),
        last_purchase=any(rule.uses_last_purchase for rule in rules),
        preferred_channel=any(rule.uses_channel for rule in rules),
    )


def _scalar(value: Any) -> Any:
    """An attribute as conditions see it: an object or a list (such as ``consent``) is no
    scalar, so it has no value here."""
    return None if isinstance(value, dict | list) else value


def _reader(fact: str, days: int | None) -> Callable[[_Context], Any]:
    """How to read ``fact`` from a context."""
    if fact.startswith("member.attributes."):
        name = fact.removeprefix("member.attributes.")
        return lambda ctx: _scalar(ctx.member.attributes.get(name))
    if fact.startswith("member.consent."):
        purpose = fact.removeprefix("member.consent.")
        return lambda ctx: _consent(ctx.member.attributes.get("consent"), purpose)
    if fact == "member.purchases_last_days":
        return lambda ctx: ctx.member.purchases_last_days.get(days or 0, 0)
    if fact.startswith("event.properties."):
        name = fact.removeprefix("event.properties.")
        return lambda ctx: ctx.event.properties.get(name) if ctx.event else None
    if fact == "member.spend_last_days":
        return lambda ctx: ctx.member.spend_last_days.get(days or 0, 0)
    return _READERS[fact]


def _consent(consent: Any, purpose: str) -> Any:
    """``member.consent.<purpose>``: the purpose's entry in the ``consent`` attribute, an object
    such as ``{"email": true, "sms": false}``."""
    return _scalar(consent.get(purpose)) if isinstance(consent, dict) else None


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _birth_month(ctx: _Context) -> int | None:
    # only the YYYY-MM-DD form (as the birthday job reads it, and as segments compile to SQL)
    birth = ctx.member.attributes.get("birth_date")
    if not isinstance(birth, str) or not _ISO_DATE.fullmatch(birth):
        return None
    try:
        return date.fromisoformat(birth).month
    except ValueError:
        return None


def _days_enrolled(ctx: _Context) -> int | None:
    enrolled = ctx.member.enrolled_at
    if enrolled is None:
        return None
    return (ctx.local.date() - enrolled.astimezone(ctx.local.tzinfo).date()).days


def _days_since_last_purchase(ctx: _Context) -> int | None:
    last = ctx.member.last_purchase_at
    if last is None:
        return None
    return (ctx.local.date() - last.astimezone(ctx.local.tzinfo).date()).days


_READERS: dict[str, Callable[[_Context], Any]] = {
    "basket.total": lambda ctx: ctx.basket.total if ctx.basket else None,
    "basket.lines": lambda ctx: len(ctx.basket.lines) if ctx.basket else None,
    "basket.channel": lambda ctx: ctx.basket.channel if ctx.basket else None,
    "basket.store": lambda ctx: ctx.basket.store if ctx.basket else None,
    "basket.promo_codes": lambda ctx: ctx.basket.promo_codes if ctx.basket else (),
    "line.sku": lambda ctx: ctx.line.sku if ctx.line else None,
    "line.category": lambda ctx: ctx.line.category if ctx.line else None,
    "line.tags": lambda ctx: ctx.line.tags if ctx.line else (),
    "line.quantity": lambda ctx: ctx.line.quantity if ctx.line else None,
    "line.amount": lambda ctx: ctx.line.amount if ctx.line else None,
    "line.unit_price": lambda ctx: ctx.line.unit_price if ctx.line else None,
    "time.weekday": lambda ctx: ctx.weekday,
    "time.hour": lambda ctx: ctx.local.hour,
    "time.date": lambda ctx: ctx.local.date(),
    "time.month": lambda ctx: ctx.local.month,
    "time.day": lambda ctx: ctx.local.day,
    "member.tier": lambda ctx: ctx.member.tier,
    "member.status": lambda ctx: ctx.member.status,
    "member.days_since_enrollment": _days_enrolled,
    "member.purchases": lambda ctx: ctx.member.purchases,
    "member.days_since_last_purchase": _days_since_last_purchase,
    "member.preferred_channel": lambda ctx: ctx.member.preferred_channel,
    "member.birth_month": _birth_month,
    "member.is_birthday_month": lambda ctx: "true" if _birth_month(ctx) == ctx.local.month
    else "false",
    "event.type": lambda ctx: ctx.event.type if ctx.event else None,
}


def _window(rule: Rule, tz: ZoneInfo) -> tuple[datetime | None, datetime | None] | None:
    return window_bounds(rule.window, tz)


def window_bounds(window: Any, tz: ZoneInfo) -> tuple[datetime | None, datetime | None] | None:
    """A validity window (inclusive, in the program's zone) as UTC instants [start, end)."""
    if window is None:
        return None

    def instant(value: date | datetime | None, *, end: bool) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            local = value if value.tzinfo else value.replace(tzinfo=tz)
            # an inclusive end instant: the window closes just after it
            return utc(local) + (timedelta(microseconds=1) if end else timedelta(0))
        return start_of_day(value + timedelta(days=1) if end else value, tz)

    return instant(window.start, end=False), instant(window.end, end=True)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _in_hours(local: datetime, start: int, end: int) -> bool:
    now = local.hour * 60 + local.minute
    return start <= now < end if start <= end else (now >= start or now < end)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def period_bounds(period: Period, at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of the day, week (Mon-Sun), month or year holding ``at``
    in the program's zone: the windows of per-member caps."""
    day = utc(at).astimezone(tz).date()
    if period is Period.DAY:
        first, after = day, day + timedelta(days=1)
    elif period is Period.WEEK:
        first = day - timedelta(days=day.weekday())
        after = first + timedelta(days=7)
    elif period is Period.MONTH:
        first = day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    else:
        first, after = date(day.year, 1, 1), date(day.year + 1, 1, 1)
    return start_of_day(first, tz), start_of_day(after, tz)


__all__ = ["PREFERRED_CHANNEL_DAYS", "CompiledProgram", "Evaluation", "FactNeeds", "MemberFacts",
           "RuleResult", "days_window_start", "period_bounds"]
