"""The program definition language: settings and declarative earn rules.

A definition is a YAML or JSON document validated by these pydantic models. A mistake is reported
with its path in the document (``rules[3].conditions.all[1].value: expected a number``), never a
traceback. See ``examples/`` and the README's "Earn rules" for the language in use.

A rule: ``trigger`` (``purchase`` or an event type), an optional validity ``window`` and weekly
``schedule`` in the program's time zone, ``conditions`` (a boolean tree of typed comparisons over
facts), one ``effect``, ``limits``, a ``priority`` (higher first) and a ``stacking`` mode.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from loyalty.domain.errors import InvalidAmount
from loyalty.domain.money import Money
from loyalty.domain.tiers import DowngradePolicy, Ladder, Level, Measure, WindowKind
from loyalty.rules.settings import ExactDecimal, ProgramSettings


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError("use 1 to 64 lower-case letters, digits, '-', '_' or '.'")
    return value


# -- facts ----------------------------------------------------------------------------------


class FactType(StrEnum):
    MONEY = "money"  # a decimal string in the program's currency, compared in minor units
    INTEGER = "integer"
    TEXT = "text"
    TEXT_LIST = "text_list"  # tags, promo codes
    DATE = "date"
    WEEKDAY = "weekday"
    SCALAR = "scalar"  # a member attribute or an event property: text, integer or boolean


class FactScope(StrEnum):
    BASKET = "basket"
    LINE = "line"  # evaluated per line: the lines for which a rule's conditions hold "match"
    TIME = "time"
    MEMBER = "member"
    EVENT = "event"


# Every fact a condition may name, with its type. ``member.attributes.<name>`` and
# ``event.properties.<name>`` are open-ended families.
FACTS: dict[str, FactType] = {
    "basket.total": FactType.MONEY,
    "basket.lines": FactType.INTEGER,
    "basket.channel": FactType.TEXT,
    "basket.store": FactType.TEXT,
    "basket.promo_codes": FactType.TEXT_LIST,
    "line.sku": FactType.TEXT,
    "line.category": FactType.TEXT,
    "line.tags": FactType.TEXT_LIST,
    "line.quantity": FactType.INTEGER,
    "line.amount": FactType.MONEY,
    "line.unit_price": FactType.MONEY,
    "time.weekday": FactType.WEEKDAY,
    "time.hour": FactType.INTEGER,
    "time.date": FactType.DATE,
    "time.month": FactType.INTEGER,
    "time.day": FactType.INTEGER,
    "member.tier": FactType.TEXT,
    "member.status": FactType.TEXT,
    "member.days_since_enrollment": FactType.INTEGER,
    "member.purchases": FactType.INTEGER,  # purchases before this one
    "member.spend_last_days": FactType.MONEY,  # needs ``days``
    "member.purchases_last_days": FactType.INTEGER,  # needs ``days``
    "member.days_since_last_purchase": FactType.INTEGER,  # none before a first purchase
    "member.preferred_channel": FactType.TEXT,  # of most purchases in the last 365 days
    "member.birth_month": FactType.INTEGER,
    "member.is_birthday_month": FactType.TEXT,  # "true"/"false", for readability
    "event.type": FactType.TEXT,
}
FACT_FAMILIES = {"member.attributes.": FactType.SCALAR, "member.consent.": FactType.SCALAR,
                 "event.properties.": FactType.SCALAR}
# Facts over "the last ``days`` days": today and the days before it, in the program's zone.
WINDOWED_FACTS = frozenset({"member.spend_last_days", "member.purchases_last_days"})
# What ``_facts_of`` names for a ``{segment: id}`` condition: a segment is a set of member facts.
SEGMENT_FACT = "member.segment"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def fact_type(name: str) -> FactType | None:
    if name in FACTS:
        return FACTS[name]
    for prefix, kind in FACT_FAMILIES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return kind
    return None


def fact_scope(name: str) -> FactScope:
    return FactScope(name.split(".", 1)[0])


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"  # inclusive: value is [low, high]
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"  # a list fact holds the value
    CONTAINS_ANY = "contains_any"  # a list fact holds one of the values
    EXISTS = "exists"  # the fact has a value (value: true) or not (value: false)


ORDERED = {FactType.MONEY, FactType.INTEGER, FactType.DATE, FactType.SCALAR}
OPS_BY_TYPE: dict[FactType, set[Op]] = {
    FactType.MONEY: {Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN, Op.IN, Op.NOT_IN},
    FactType.INTEGER: {Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN, Op.IN,
                       Op.NOT_IN},
    FactType.DATE: {Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN, Op.IN, Op.NOT_IN},
    FactType.TEXT: {Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.EXISTS},
    FactType.WEEKDAY: {Op.EQ, Op.NE, Op.IN, Op.NOT_IN},
    FactType.TEXT_LIST: {Op.CONTAINS, Op.CONTAINS_ANY, Op.EXISTS},
    FactType.SCALAR: {Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN, Op.IN, Op.NOT_IN,
                      Op.EXISTS},
}


def _typed(kind: FactType, value: Any) -> Any:
    """Check one comparison value against the fact's type; return it in comparable form."""
    if kind is FactType.MONEY:
        if not isinstance(value, str):
            raise ValueError("expected an amount as a decimal string such as \"50.00\"")
        try:
            # the shape only; the program's currency decides the decimals (``money_problems``)
            Money.parse(value, "CLF")
        except InvalidAmount as error:
            raise ValueError(error.detail) from None
        return value
    if kind is FactType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected a number")
        return _within_64_bits(value)
    if kind is FactType.DATE:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value  # an unquoted YAML date
        try:
            return date.fromisoformat(value) if isinstance(value, str) else _fail()
        except ValueError:
            raise ValueError("expected a date such as 2026-12-24") from None
    if kind is FactType.WEEKDAY:
        if value not in WEEKDAYS:
            raise ValueError(f"expected a weekday: {', '.join(WEEKDAYS)}")
        return value
    if kind in (FactType.TEXT, FactType.TEXT_LIST):
        if not isinstance(value, str):
            raise ValueError("expected a text")
        return value
    if isinstance(value, float) or not isinstance(value, str | int | bool):
        raise ValueError("expected a text, a number or true/false")
    return value if isinstance(value, bool | str) else _within_64_bits(value)


def _within_64_bits(value: int) -> int:
    # what the database can compare with: attributes and counts are 64-bit integers
    if not -(2**63) <= value < 2**63:
        raise ValueError("expected a number within 64 bits")
    return value


def _fail() -> Any:
    raise ValueError


class Comparison(Strict):
    """``{fact: line.category, op: in, value: [shoes, bags]}``"""

    fact: str
    op: Op = Op.EQ
    value: Any = None
    days: int | None = Field(default=None, ge=1, le=3660,
                             description="the window of member.spend_last_days and "
                                         "member.purchases_last_days")

    @model_validator(mode="after")
    def _check(self) -> Comparison:
        kind = fact_type(self.fact)
        if kind is None:
            raise ValueError(f"fact: unknown fact {self.fact!r} (the README lists them)")
        if self.op not in OPS_BY_TYPE[kind]:
            allowed = ", ".join(sorted(op.value for op in OPS_BY_TYPE[kind]))
            raise ValueError(f"op: {self.fact} ({kind.value}) takes the operators {allowed}")
        if (self.fact in WINDOWED_FACTS) != (self.days is not None):
            raise ValueError("days: is given with a fact over the last days "
                             "(member.spend_last_days, member.purchases_last_days), and only "
                             "with it")
        try:
            self._check_value(kind)
        except ValueError as error:
            raise ValueError(f"value: {error}") from None
        return self

    def _check_value(self, kind: FactType) -> None:
        if self.op is Op.EXISTS:
            if not isinstance(self.value, bool):
                raise ValueError("exists takes true or false")
        elif self.op in (Op.IN, Op.NOT_IN, Op.CONTAINS_ANY):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"{self.op.value} takes a non-empty list")
            for item in self.value:
                _typed(kind, item)
        elif self.op is Op.BETWEEN:
            if not isinstance(self.value, list) or len(self.value) != 2:
                raise ValueError("between takes a list of two values, [low, high]")
            for item in self.value:
                _typed(kind, item)
        else:
            _typed(kind, self.value)


def _condition_kind(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("all", "any", "not", "segment"):
            if key in value:
                return key
        return "comparison"
    return getattr(value, "kind", "comparison")


class AllOf(Strict):
    kind: Literal["all"] = Field(default="all", exclude=True)
    all: list[Condition] = Field(min_length=1)


class AnyOf(Strict):
    kind: Literal["any"] = Field(default="any", exclude=True)
    any: list[Condition] = Field(min_length=1)


class NotOf(Strict):
    kind: Literal["not"] = Field(default="not", exclude=True)
    not_: Condition = Field(alias="not")


class SegmentRef(Strict):
    """``{segment: lapsed-vip}``: the member belongs to that segment of the same document."""

    kind: Literal["segment"] = Field(default="segment", exclude=True)
    segment: str

    _id = field_validator("segment")(classmethod(lambda cls, v: _slug(v)))


Condition = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")]
    | Annotated[SegmentRef, Tag("segment")]
    | Annotated[Comparison, Tag("comparison")],
    Discriminator(_condition_kind),
]


# -- effects --------------------------------------------------------------------------------


class PerCurrencyUnit(Strict):
    """``points`` for each whole currency unit of the earn base, or of the matching lines."""

    type: Literal["per_currency_unit"]
    points: ExactDecimal = Field(gt=0, le=10_000)
    over: Literal["earn_base", "matching_lines"] = "earn_base"


class FixedPoints(Strict):
    type: Literal["fixed"]
    points: int = Field(gt=0, le=10_000_000)


class Multiplier(Strict):
    """Multiplies what the rules applied before it (in priority order) earned: ``factor: "2"``
    doubles them, adding as much again."""

    type: Literal["multiplier"]
    factor: ExactDecimal = Field(gt=1, le=100)


class PerUnit(Strict):
    """``points`` for each unit (quantity) of the matching lines."""

    type: Literal["per_unit"]
    points: ExactDecimal = Field(gt=0, le=1_000_000)


Effect = Annotated[PerCurrencyUnit | FixedPoints | Multiplier | PerUnit,
                   Field(discriminator="type")]


# -- limits, windows, schedules ---------------------------------------------------------------


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"  # Monday to Sunday, in the program's zone
    MONTH = "month"
    YEAR = "year"


class PeriodCap(Strict):
    period: Period
    points: int = Field(gt=0)


class Limits(Strict):
    per_transaction: int | None = Field(default=None, gt=0)
    per_member: list[PeriodCap] = Field(default_factory=list)
    budget: int | None = Field(default=None, gt=0, description="points the rule may ever give")
    once_per_member: bool = False

    @property
    def tracked(self) -> bool:
        """Whether the rule's awards must be remembered to enforce these limits."""
        return bool(self.per_member or self.once_per_member or self.budget)


def _bound(value: Any) -> Any:
    """A bound written with a time is an instant (a datetime); without, a whole day."""
    if isinstance(value, str):
        text = value.strip()
        try:
            if "T" in text or " " in text:
                return datetime.fromisoformat(text)
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError("expected a date (2026-12-24) or a date and time "
                             "(2026-12-24T18:00:00, optionally with an offset)") from None
    return value


Bound = Annotated[datetime | date | None, BeforeValidator(_bound)]


class Window(Strict):
    """Inclusive, in the program's zone: a date covers the whole day; a date and time without
    an offset is a wall-clock time in the program's zone."""

    start: Bound = None
    end: Bound = None

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        start, end = self.start, self.end
        if start is None or end is None:
            return self
        if isinstance(start, datetime) and isinstance(end, datetime):
            if (start.tzinfo is None) != (end.tzinfo is None):
                return self  # one is local, the other absolute: the zone decides, at compile
            wrong = start > end
        else:
            first = start.date() if isinstance(start, datetime) else start
            last = end.date() if isinstance(end, datetime) else end
            wrong = first > last
        if wrong:
            raise ValueError("the window ends before it starts")
        return self


_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class Hours(Strict):
    """From ``from`` (inclusive) to ``to`` (exclusive), local time; may wrap past midnight."""

    from_: str = Field(alias="from")
    to: str

    @field_validator("from_", "to")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value) and value != "24:00":
            raise ValueError("expected a time such as 18:30")
        return value


class Schedule(Strict):
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None
    hours: Hours | None = None


class Stacking(StrEnum):
    STACK = "stack"  # adds to what other rules give
    EXCLUSIVE = "exclusive"  # when it applies, it is the only rule that gives points
    STOP = "stop"  # when it applies, rules of lower priority are not evaluated


class Rule(Strict):
    id: str
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    trigger: str = "purchase"
    window: Window | None = None
    schedule: Schedule | None = None
    conditions: Condition | None = None
    effect: Effect
    limits: Limits = Field(default_factory=Limits)
    priority: int = Field(default=0, ge=-1000, le=1000)
    stacking: Stacking = Stacking.STACK
    qualifying: bool = Field(default=True, description="counts toward tier qualification")

    _id = field_validator("id")(classmethod(lambda cls, v: _slug(v)))
    _trigger = field_validator("trigger")(classmethod(lambda cls, v: _slug(v)))

    @model_validator(mode="after")
    def _coherent(self) -> Rule:
        facts = list(_facts_of(self.conditions))
        if self.trigger != "purchase":
            wrong = [f for f in facts if fact_scope(f) in (FactScope.BASKET, FactScope.LINE)]
            if wrong:
                raise ValueError(f"an event rule has no basket: {wrong[0]} cannot be used")
            if isinstance(self.effect, PerCurrencyUnit | PerUnit):
                raise ValueError("an event rule earns fixed points or a multiplier")
        elif any(fact_scope(f) is FactScope.EVENT for f in facts):
            raise ValueError("a purchase rule has no event: event.* facts cannot be used")
        needs_lines = (isinstance(self.effect, PerUnit)
                       or getattr(self.effect, "over", None) == "matching_lines")
        if needs_lines and not any(fact_scope(f) is FactScope.LINE for f in facts):
            raise ValueError("this effect counts matching lines: add a line.* condition")
        return self


def _facts_of(condition: Any) -> Any:
    """Every fact a condition tree names (``SEGMENT_FACT`` for a segment)."""
    if condition is None:
        return
    if isinstance(condition, Comparison):
        yield condition.fact
    elif isinstance(condition, SegmentRef):
        yield SEGMENT_FACT
    elif isinstance(condition, AllOf):
        for item in condition.all:
            yield from _facts_of(item)
    elif isinstance(condition, AnyOf):
        for item in condition.any:
            yield from _facts_of(item)
    elif isinstance(condition, NotOf):
        yield from _facts_of(condition.not_)


def condition_leaves(condition: Any, path: str) -> Any:
    """(path, comparison or segment reference) for every leaf of a condition tree, the path
    continuing ``path`` as the document's keys (``rules[0].conditions.all[1]``)."""
    if isinstance(condition, AllOf | AnyOf):
        key = "all" if isinstance(condition, AllOf) else "any"
        for index, item in enumerate(getattr(condition, key)):
            yield from condition_leaves(item, f"{path}.{key}[{index}]")
    elif isinstance(condition, NotOf):
        yield from condition_leaves(condition.not_, f"{path}.not")
    elif condition is not None:
        yield path, condition


class Segment(Strict):
    """A named set of members: a filter over member facts only (``member.*``), evaluated at
    an instant (now, for listings; the purchase's or event's, in a rule's conditions)."""

    id: str
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    filter: Condition

    _id = field_validator("id")(classmethod(lambda cls, v: _slug(v)))

    @model_validator(mode="after")
    def _member_facts_only(self) -> Segment:
        for path, leaf in condition_leaves(self.filter, "filter"):
            if isinstance(leaf, SegmentRef):
                raise ValueError(f"{path}.segment: a segment's filter cannot name another "
                                 "segment")
            if fact_scope(leaf.fact) is not FactScope.MEMBER:
                raise ValueError(f"{path}.fact: a segment filters members: only member.* "
                                 f"facts, not {leaf.fact}")
        return self


def _threshold(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("a threshold is an amount such as \"500.00\" (spend) or a whole "
                         "number (points, purchases)")
    return value


class TierLevel(Strict):
    """One level of the ladder. ``threshold`` is inclusive, in the measure's unit: an amount
    (``"500.00"``) for spend, a number for points and purchases; the first level's is 0."""

    id: str
    name: str = Field(min_length=1, max_length=200)
    threshold: Annotated[str | int, BeforeValidator(_threshold)]
    multiplier: ExactDecimal = Field(default=Decimal(1), ge=1, le=100,
                                     description="multiplies what purchases earn at this tier")
    bonus_points: int = Field(default=0, ge=0, le=10_000_000,
                              description="given once, when the member first reaches the tier")

    _id = field_validator("id")(classmethod(lambda cls, v: _slug(v)))


class TierWindow(Strict):
    type: WindowKind = WindowKind.CALENDAR_YEAR
    months: int = Field(default=12, ge=1, le=120, description="for rolling windows")


class Downgrade(Strict):
    policy: DowngradePolicy = DowngradePolicy.PERIOD_END
    grace_days: int = Field(default=0, ge=0, le=366)


class Tiers(Strict):
    """The tier ladder: its measure, window, policies and levels (lowest first)."""

    measure: Measure = Measure.SPEND
    window: TierWindow = Field(default_factory=TierWindow)
    upgrade_earns_at_new_tier: bool = True
    downgrade: Downgrade = Field(default_factory=Downgrade)
    levels: list[TierLevel] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _ladder(self) -> Tiers:
        previous: int | None = None
        seen: set[str] = set()
        for index, level in enumerate(self.levels):
            if level.id in seen:
                raise ValueError(f"levels[{index}].id: two levels have the id {level.id!r}")
            seen.add(level.id)
            try:
                threshold = self.threshold_of(level, "CLF")
            except ValueError as error:
                raise ValueError(f"levels[{index}].threshold: {error}") from None
            if index == 0 and threshold != 0:
                raise ValueError("levels[0].threshold: the lowest level starts at 0")
            if previous is not None and threshold <= previous:
                raise ValueError(f"levels[{index}].threshold: thresholds rise from level "
                                 "to level")
            previous = threshold
        return self

    def threshold_of(self, level: TierLevel, currency: str) -> int:
        if self.measure is Measure.SPEND:
            if not isinstance(level.threshold, str):
                raise ValueError("a spend threshold is an amount such as \"500.00\"")
            try:
                return Money.parse(level.threshold, currency).minor
            except InvalidAmount as error:
                raise ValueError(error.detail) from None
        if isinstance(level.threshold, bool) or not isinstance(level.threshold, int):
            raise ValueError(f"a {self.measure.value} threshold is a whole number")
        if level.threshold < 0:
            raise ValueError("a threshold is not negative")
        return level.threshold

    def ladder(self, currency: str) -> Ladder:
        return Ladder(
            levels=tuple(Level(level.id, level.name, self.threshold_of(level, currency), rank)
                         for rank, level in enumerate(self.levels)),
            measure=self.measure, window=self.window.type, months=self.window.months,
            downgrade=self.downgrade.policy, grace_days=self.downgrade.grace_days,
        )


class RewardKind(StrEnum):
    AMOUNT_OFF = "amount_off"  # ``amount`` off the basket
    PERCENT_OFF = "percent_off"  # ``percent`` off the basket
    FREE_PRODUCT = "free_product"  # one ``sku`` free
    FREE_SHIPPING = "free_shipping"
    EXTERNAL_CODE = "external_code"  # fulfilled elsewhere (a partner's code, a gift)


class MemberLimit(Strict):
    period: Period
    count: int = Field(gt=0, le=1000)


class Reward(Strict):
    """A reward of the catalogue: what it costs, what its voucher gives, who may take it."""

    id: str
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    cost: int = Field(gt=0, le=10_000_000, description="points")
    kind: RewardKind
    amount: str | None = Field(default=None, description="amount_off: a decimal string")
    percent: ExactDecimal | None = Field(default=None, gt=0, le=100)
    sku: str | None = None
    stock: int | None = Field(default=None, ge=0, description="units ever to be issued")
    per_member: MemberLimit | None = None
    tiers: list[str] | None = Field(default=None, description="only members of these tiers")
    window: Window | None = None
    voucher_days: int = Field(default=30, ge=1, le=3660)

    _id = field_validator("id")(classmethod(lambda cls, v: _slug(v)))

    @model_validator(mode="after")
    def _gives(self) -> Reward:
        needs = {RewardKind.AMOUNT_OFF: "amount", RewardKind.PERCENT_OFF: "percent",
                 RewardKind.FREE_PRODUCT: "sku"}
        wanted = needs.get(self.kind)
        for field in ("amount", "percent", "sku"):
            given = getattr(self, field) is not None
            if field == wanted and not given:
                raise ValueError(f"{self.kind.value} rewards need {field}")
            if field != wanted and given:
                raise ValueError(f"{self.kind.value} rewards take no {field}")
        if self.amount is not None:
            try:
                Money.parse(self.amount, "CLF")
            except InvalidAmount as error:
                raise ValueError(error.detail) from None
        return self


class ProgramDefinition(Strict):
    """A whole program version: settings, earn rules, tier ladder, rewards catalogue,
    segments."""

    settings: ProgramSettings = Field(default_factory=ProgramSettings)
    rules: list[Rule] = Field(default_factory=list)
    tiers: Tiers | None = None
    rewards: list[Reward] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)

    def reward(self, reward_id: str) -> Reward | None:
        return next((r for r in self.rewards if r.id == reward_id), None)

    def segment(self, segment_id: str) -> Segment | None:
        return next((s for s in self.segments if s.id == segment_id), None)

    @model_validator(mode="after")
    def _unique_ids(self) -> ProgramDefinition:
        rewards = [r.id for r in self.rewards]
        for index, reward_id in enumerate(rewards):
            if reward_id in rewards[:index]:
                raise ValueError(f"rewards[{index}].id: two rewards have the id {reward_id!r}")
        levels = {level.id for level in self.tiers.levels} if self.tiers else set()
        for index, reward in enumerate(self.rewards):
            unknown = [t for t in reward.tiers or [] if t not in levels]
            if unknown:
                raise ValueError(f"rewards[{index}].tiers: no tier {unknown[0]!r} in the ladder")
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                ids = [r.id for r in self.rules]
                index = ids.index(rule.id, ids.index(rule.id) + 1)
                raise ValueError(f"rules[{index}].id: two rules have the id {rule.id!r}")
            seen.add(rule.id)
        segments = [s.id for s in self.segments]
        for index, segment_id in enumerate(segments):
            if segment_id in segments[:index]:
                raise ValueError(f"segments[{index}].id: two segments have the id "
                                 f"{segment_id!r}")
        for index, rule in enumerate(self.rules):
            for path, leaf in condition_leaves(rule.conditions, f"rules[{index}].conditions"):
                if isinstance(leaf, SegmentRef) and leaf.segment not in segments:
                    raise ValueError(f"{path}.segment: no segment {leaf.segment!r} in this "
                                     "definition")
        if self.rules and "points_per_unit" in self.settings.earn.model_fields_set:
            raise ValueError("settings.earn.points_per_unit: is for programs without rules; "
                             "write a per_currency_unit rule instead")
        return self

    def effective_rules(self) -> list[Rule]:
        """The rules, or for a program that defines none, one base rule from the settings."""
        if self.rules:
            return self.rules
        rate = self.settings.earn.points_per_unit
        if rate == 0:
            return []
        return [Rule(id="base-rate", name=f"{_plain(rate)} point(s) per currency unit",
                     effect=PerCurrencyUnit(type="per_currency_unit", points=rate))]


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


class DefinitionError(ValueError):
    """A definition with mistakes: every one of them, each with its path in the document."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))


def load_definition(document: Any) -> ProgramDefinition:
    """Validate a parsed YAML/JSON document; ``DefinitionError`` lists every mistake."""
    try:
        return ProgramDefinition.model_validate(document)
    except ValidationError as error:
        raise DefinitionError([_problem(e) for e in error.errors()]) from None


_CONDITION_TAGS = ("all", "any", "not", "segment")
_EFFECT_TAGS = ("per_currency_unit", "fixed", "multiplier", "per_unit")
_FIELD_PREFIX = re.compile(r"^(fact|op|value|days): ")
_DOCUMENT_PATH = re.compile(r"^((?:rules|settings|levels|rewards|segments)[\w\[\].]*): ")
_FILTER_PATH = re.compile(r"^(filter[\w\[\].]*): ")


def _path(location: tuple[Any, ...]) -> str:
    """``rules[3].conditions.all[1].value`` from pydantic's location, without the union tags
    pydantic inserts (they are not keys of the document)."""
    parts = list(location)
    kept: list[Any] = []
    for index, part in enumerate(parts):
        following = parts[index + 1] if index + 1 < len(parts) else None
        if part == "comparison" or (part in _CONDITION_TAGS and following == part):
            continue
        if part in _EFFECT_TAGS and index and parts[index - 1] == "effect":
            continue
        kept.append(part)
    path = ""
    for part in kept:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(document)"


def _problem(error: Any) -> tuple[str, str]:
    path, message = _path(error["loc"]), str(error["msg"]).removeprefix("Value error, ")
    field = _FIELD_PREFIX.match(message)
    if field:
        path, message = f"{path}.{field.group(1)}", message[field.end():]
    located = _DOCUMENT_PATH.match(message) if path in ("(document)", "tiers") else None
    if located:
        prefix = "" if path == "(document)" else f"{path}."
        path, message = prefix + located.group(1), message[located.end():]
    in_filter = _FILTER_PATH.match(message) if path.startswith("segments[") else None
    if in_filter:
        path, message = f"{path}.{in_filter.group(1)}", message[in_filter.end():]
    return path, message


def money_problems(definition: ProgramDefinition, currency: str) -> list[tuple[str, str]]:
    """Amounts in conditions that the program's currency cannot hold (``"9.999"`` in EUR,
    ``"5.50"`` in JPY), each with its path."""
    problems: list[tuple[str, str]] = []

    def walk(condition: Any, path: str) -> None:
        if isinstance(condition, AllOf | AnyOf):
            items = condition.all if isinstance(condition, AllOf) else condition.any
            key = "all" if isinstance(condition, AllOf) else "any"
            for index, item in enumerate(items):
                walk(item, f"{path}.{key}[{index}]")
        elif isinstance(condition, NotOf):
            walk(condition.not_, f"{path}.not")
        elif isinstance(condition, Comparison) and fact_type(condition.fact) is FactType.MONEY:
            values = condition.value if isinstance(condition.value, list) else [condition.value]
            for value in values:
                try:
                    Money.parse(value, currency)
                except InvalidAmount as error:
                    problems.append((f"{path}.value", error.detail))

    for index, rule in enumerate(definition.rules):
        if rule.conditions is not None:
            walk(rule.conditions, f"rules[{index}].conditions")
    for index, segment in enumerate(definition.segments):
        walk(segment.filter, f"segments[{index}].filter")
    for index, reward in enumerate(definition.rewards):
        if reward.amount is not None:
            try:
                Money.parse(reward.amount, currency)
            except InvalidAmount as error:
                problems.append((f"rewards[{index}].amount", error.detail))
    if definition.tiers is not None and definition.tiers.measure is Measure.SPEND:
        for index, level in enumerate(definition.tiers.levels):
            try:
                Money.parse(str(level.threshold), currency)
            except InvalidAmount as error:
                problems.append((f"tiers.levels[{index}].threshold", error.detail))
    return problems
