"""Segments in the database: a segment's filter compiled to one SQL condition over members.

Listing a segment never loads members into Python: the filter becomes a SQLAlchemy Core
expression over ``members``, joined with ``member_tiers`` and, when the filter asks about them,
with aggregates of the member's purchases (one pass over the program's purchases) and with the
preferred channel (a window function over purchases per channel). The compiled condition means
exactly what the rule engine's evaluator means (``rules.engine``), a property test holds both
to it:

- a comparison with no value (no purchase yet, no such attribute) is false, except ``ne`` and
  ``not_in`` which are true (Python's ``None != x``); every leaf is ``COALESCE(..., false)`` so
  that ``not`` never meets a NULL;
- texts order by code point (``COLLATE "C"`` on PostgreSQL, SQLite's binary collation);
- an attribute compares by its JSON type: a text (or a boolean, as ``"true"``/``"false"``)
  with texts, a number with numbers, never across; an object or a list has no value;
- "days since" facts are whole days in the program's zone: ``days >= k`` is "the instant is
  before the start of the day ``k - 1`` days before today", so the database needs no zone
  data; "the last N days" start at the start of a local day, computed in Python.

The per-member reads (``purchases_between``, ``last_purchase_before``, ``preferred_channel``)
are what the rule engine is given at a purchase, when a rule in force asks about them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Integer,
    Numeric,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from loyalty.adapters.orm import MemberRow, MemberTierRow, PurchaseRow
from loyalty.domain.money import Money
from loyalty.domain.time import local_date, start_of_day
from loyalty.rules.definition import (
    AllOf,
    AnyOf,
    Comparison,
    FactType,
    NotOf,
    Op,
    fact_type,
)
from loyalty.rules.engine import PREFERRED_CHANNEL_DAYS, days_window_start

_MEMBERS = MemberRow.__table__
_TIERS = MemberTierRow.__table__
_PURCHASES = PurchaseRow.__table__

# "days since" constants beyond this many days are clamped: every instant stored lies within
# 1970-2200, so a farther day changes no answer (and stays a valid date).
_FAR_DAYS = 200_000


@dataclass
class _Compiler:
    program_id: str
    at: datetime
    tz: ZoneInfo
    currency: str
    postgres: bool
    levels: tuple[str, ...]  # the tier ladder's level ids, the lowest first (none: no ladder)
    spend_days: set[int] = field(default_factory=set)
    purchase_days: set[int] = field(default_factory=set)
    purchase_count: bool = False
    last_purchase: bool = False
    channel: bool = False
    _activity: Any = None
    _preferred: Any = None

    # -- the tree ------------------------------------------------------------------------------

    def condition(self, node: Any) -> ColumnElement[bool]:
        if isinstance(node, AllOf):
            return and_(*[self.condition(item) for item in node.all])
        if isinstance(node, AnyOf):
            return or_(*[self.condition(item) for item in node.any])
        if isinstance(node, NotOf):
            return not_(self.condition(node.not_))
        assert isinstance(node, Comparison)  # segments name no segment (the definition says)
        return self.comparison(node)

    def collect(self, node: Any) -> None:
        """First pass: which aggregates the filter needs, so each is joined once."""
        if isinstance(node, AllOf | AnyOf):
            for item in node.all if isinstance(node, AllOf) else node.any:
                self.collect(item)
        elif isinstance(node, NotOf):
            self.collect(node.not_)
        elif isinstance(node, Comparison):
            fact = node.fact
            if fact == "member.spend_last_days":
                self.spend_days.add(node.days or 0)
            elif fact == "member.purchases_last_days":
                self.purchase_days.add(node.days or 0)
            elif fact == "member.purchases":
                self.purchase_count = True
            elif fact == "member.days_since_last_purchase":
                self.last_purchase = True
            elif fact == "member.preferred_channel":
                self.channel = True

    # -- the sources ---------------------------------------------------------------------------

    def source(self) -> Any:
        """members, with their tier state and the aggregates the filter needs."""
        joined = _MEMBERS.outerjoin(_TIERS, _TIERS.c.member_id == _MEMBERS.c.id)
        p = _PURCHASES
        if self.spend_days or self.purchase_days or self.purchase_count or self.last_purchase:
            columns: list[Any] = [
                p.c.member_id,
                func.count().label("n"),
                func.max(p.c.occurred_at).label("last"),
            ]
            for days in sorted(self.spend_days):
                start = days_window_start(self.at, days, self.tz)
                columns.append(
                    func.sum(case((p.c.occurred_at >= start, p.c.total), else_=0)).label(
                        f"spend_{days}"
                    )
                )
            for days in sorted(self.purchase_days):
                start = days_window_start(self.at, days, self.tz)
                columns.append(
                    func.sum(case((p.c.occurred_at >= start, 1), else_=0)).label(
                        f"purchases_{days}"
                    )
                )
            self._activity = (
                select(*columns)
                .where(p.c.program_id == self.program_id, p.c.occurred_at < self.at)
                .group_by(p.c.member_id)
                .subquery("activity")
            )
            joined = joined.outerjoin(self._activity, self._activity.c.member_id == _MEMBERS.c.id)
        if self.channel:
            start = days_window_start(self.at, PREFERRED_CHANNEL_DAYS, self.tz)
            per_channel = (
                select(
                    p.c.member_id,
                    p.c.channel,
                    func.count().label("n"),
                    func.max(p.c.occurred_at).label("last"),
                )
                .where(
                    p.c.program_id == self.program_id,
                    p.c.occurred_at >= start,
                    p.c.occurred_at < self.at,
                )
                .group_by(p.c.member_id, p.c.channel)
                .subquery("per_channel")
            )
            ranked = select(
                per_channel.c.member_id,
                per_channel.c.channel,
                func.row_number()
                .over(
                    partition_by=per_channel.c.member_id,
                    order_by=(
                        per_channel.c.n.desc(),
                        per_channel.c.last.desc(),
                        self.ordered(per_channel.c.channel),
                    ),
                )
                .label("rank"),
            ).subquery("ranked")
            self._preferred = (
                select(ranked.c.member_id, ranked.c.channel)
                .where(ranked.c.rank == 1)
                .subquery("preferred")
            )
            joined = joined.outerjoin(self._preferred, self._preferred.c.member_id == _MEMBERS.c.id)
        return joined

    def tier(self) -> ColumnElement[Any]:
        """The member's tier as the engine sees it: its level if the ladder has it, else the
        lowest level; none without a ladder."""
        if not self.levels:
            return cast(null(), String()).label("tier")
        return case(
            (_TIERS.c.tier.in_(self.levels), _TIERS.c.tier), else_=literal(self.levels[0])
        ).label("tier")

    def ordered(self, text: Any) -> Any:
        return text.collate("C") if self.postgres else text

    # -- the leaves ----------------------------------------------------------------------------

    def comparison(self, node: Comparison) -> ColumnElement[bool]:
        fact, op, value = node.fact, node.op, node.value
        kind = fact_type(fact)
        if fact.startswith("member.attributes."):
            return self.scalar(self.attribute(fact.removeprefix("member.attributes.")), op, value)
        if fact.startswith("member.consent."):
            return self.scalar(self.consent(fact.removeprefix("member.consent.")), op, value)
        if fact == "member.days_since_enrollment":
            return self.days_since(_MEMBERS.c.enrolled_at, op, value)
        if fact == "member.days_since_last_purchase":
            return self.days_since(self._activity.c.last, op, value)
        if kind is FactType.MONEY:
            value = [self.money(v) for v in value] if isinstance(value, list) else self.money(value)
        if fact == "member.spend_last_days":
            return self.plain(func.coalesce(self._activity.c[f"spend_{node.days}"], 0), op, value)
        if fact == "member.purchases_last_days":
            return self.plain(
                func.coalesce(self._activity.c[f"purchases_{node.days}"], 0), op, value
            )
        return self.plain(self.column(fact), op, value)

    def column(self, fact: str) -> Any:
        """The SQL value of a fact that is compared as it is (NULL: no value)."""
        if fact == "member.tier":
            return self.tier()
        if fact == "member.status":
            return _MEMBERS.c.status
        if fact == "member.preferred_channel":
            return self._preferred.c.channel
        if fact == "member.purchases":
            return func.coalesce(self._activity.c.n, 0)
        if fact == "member.birth_month":
            return self.birth_month()
        if fact == "member.is_birthday_month":
            month = local_date(self.at, self.tz).month
            return case((self.birth_month() == month, "true"), else_="false")
        raise AssertionError(f"no SQL for {fact}")  # a new member fact needs its SQL here

    def money(self, text: str) -> int:
        return Money.parse(text, self.currency).minor

    def plain(self, column: Any, op: Op, value: Any) -> ColumnElement[bool]:
        """A fact compared as it is, as the engine does (``_safe``, ``_between``, ``in``)."""
        if op is Op.EQ:
            return _known(column == value)
        if op is Op.NE:
            return not_(_known(column == value))
        if op is Op.IN:
            return _known(column.in_(list(value)))
        if op is Op.NOT_IN:
            return not_(_known(column.in_(list(value))))
        if op is Op.EXISTS:
            present = _known(and_(column.is_not(None), column != ""))
            return present if value else not_(present)
        if op is Op.BETWEEN:
            return _known(and_(column >= value[0], column <= value[1]))
        return _known(_ORDER[op](column, value))

    def scalar(self, reads: tuple[Any, Any], op: Op, value: Any) -> ColumnElement[bool]:
        """An attribute (text or boolean: ``text``; number: ``number``) compared with a value
        of the document: texts with texts, numbers with numbers, never across (the engine's
        comparisons of a text with a number fail, so they are false)."""
        text, number = reads

        def against(item: Any) -> Any:
            if isinstance(item, bool):
                return self.ordered(text), "true" if item else "false"
            if isinstance(item, str):
                return self.ordered(text), item
            return number, item

        def equal(item: Any) -> ColumnElement[bool]:
            column, normal = against(item)
            return _known(column == normal)

        if op is Op.EQ:
            return equal(value)
        if op is Op.NE:
            return not_(equal(value))
        if op in (Op.IN, Op.NOT_IN):
            found = or_(*[equal(item) for item in value])
            return found if op is Op.IN else not_(found)
        if op is Op.EXISTS:
            present = _known(or_(and_(text.is_not(None), text != ""), number.is_not(None)))
            return present if value else not_(present)
        if op is Op.BETWEEN:
            (low_column, low), (high_column, high) = against(value[0]), against(value[1])
            return and_(_known(low_column >= low), _known(high_column <= high))
        column, normal = against(value)
        return _known(_ORDER[op](column, normal))

    def attribute(self, name: str) -> tuple[Any, Any]:
        """(text, number) of ``attributes[name]``: a text, or a boolean as "true"/"false";
        an integer or a real. NULL for any other JSON type, or when it is absent."""
        if self.postgres:
            return _pg_reads(_MEMBERS.c.attributes, name)
        each = func.json_each(_MEMBERS.c.attributes).table_valued("key", "value", "type")
        return _sqlite_reads(each, name)

    def consent(self, purpose: str) -> tuple[Any, Any]:
        """(text, number) of ``attributes.consent[purpose]`` when ``consent`` is an object."""
        # ``->`` of a key on anything but an object is NULL (PostgreSQL); ``json_each`` of a
        # text or a number yields one entry without a key, of a list entries keyed 0, 1...
        if self.postgres:
            return _pg_reads(_MEMBERS.c.attributes.op("->")(literal("consent", String())), purpose)
        each = func.json_each(_MEMBERS.c.attributes, "$.consent").table_valued(
            "key", "value", "type"
        )
        return _sqlite_reads(each, purpose)

    def birth_month(self) -> Any:
        """The month of ``attributes.birth_date`` written YYYY-MM-DD, else NULL."""
        if self.postgres:
            birth = _MEMBERS.c.attributes.op("->")(literal("birth_date", String()))
            text = _MEMBERS.c.attributes.op("->>", return_type=String())(
                literal("birth_date", String())
            )
            wellformed = and_(
                func.jsonb_typeof(birth) == "string", text.op("~")(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
            )
        else:
            text, kind = _sqlite_reads(
                func.json_each(_MEMBERS.c.attributes).table_valued("key", "value", "type"),
                "birth_date",
                raw=True,
            )
            wellformed = and_(
                kind == "text", text.op("GLOB")("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]")
            )
        month = cast(func.substr(text, 6, 2), Integer())
        return case((and_(wellformed, month.between(1, 12)), month))

    def days_since(self, instant: Any, op: Op, value: Any) -> ColumnElement[bool]:
        """Whole days from the local date of ``instant`` to today, compared with constants,
        as comparisons of ``instant`` with the start of local days."""
        today = local_date(self.at, self.tz)

        def day_start(days_ago: int) -> datetime:
            days_ago = max(-_FAR_DAYS, min(_FAR_DAYS, days_ago))
            return start_of_day(today - timedelta(days=days_ago), self.tz)

        def at_least(k: int) -> ColumnElement[bool]:  # days >= k
            return _known(instant < day_start(k - 1))

        def at_most(k: int) -> ColumnElement[bool]:  # days <= k
            return _known(instant >= day_start(k))

        def equal(k: int) -> ColumnElement[bool]:
            return and_(at_least(k), at_most(k))

        tests: dict[Op, Callable[[Any], ColumnElement[bool]]] = {
            Op.EQ: equal,
            Op.NE: lambda k: not_(equal(k)),
            Op.GTE: at_least,
            Op.GT: lambda k: at_least(k + 1),
            Op.LTE: at_most,
            Op.LT: lambda k: at_most(k - 1),
            Op.BETWEEN: lambda pair: and_(at_least(pair[0]), at_most(pair[1])),
            Op.IN: lambda ks: or_(*[equal(k) for k in ks]),
            Op.NOT_IN: lambda ks: not_(or_(*[equal(k) for k in ks])),
        }
        return tests[op](value)


def _known(condition: Any) -> ColumnElement[bool]:
    """A condition that is false, never NULL, when a value is missing."""
    return func.coalesce(condition, false())


_ORDER: dict[Op, Callable[[Any, Any], Any]] = {
    Op.GT: lambda column, value: column > value,
    Op.GTE: lambda column, value: column >= value,
    Op.LT: lambda column, value: column < value,
    Op.LTE: lambda column, value: column <= value,
}


def _pg_reads(container: Any, key: str) -> tuple[Any, Any]:
    """(text, number) of ``container -> key`` (JSONB): ``->>`` gives a string unquoted, a
    boolean as true/false, a number as its digits."""
    name = literal(key, String())
    kind = func.jsonb_typeof(container.op("->")(name))
    raw = container.op("->>", return_type=String())(name)
    return (
        case((kind.in_(["string", "boolean"]), raw)),
        case((kind == "number", cast(raw, Numeric()))),
    )


def _sqlite_reads(each: Any, key: str, *, raw: bool = False) -> tuple[Any, Any]:
    """(text, number) of the entry ``key`` of a ``json_each`` (a scalar subquery each), or
    with ``raw`` its (value, type)."""

    def read(expression: Any) -> Any:
        return select(expression).select_from(each).where(each.c.key == key).scalar_subquery()

    if raw:
        return read(each.c.value), read(each.c.type)
    kind = each.c.type
    text = read(
        case((kind == "text", each.c.value), (kind == "true", "true"), (kind == "false", "false"))
    )
    number = read(case((kind.in_(["integer", "real"]), each.c.value)))
    return text, number


@dataclass(frozen=True)
class SegmentMemberRow:
    member_id: str
    status: str
    tier: str | None


class SegmentRepository:
    """Segment membership, computed in the database; and the purchase history facts of one
    member that segments (and rules) may ask about."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"

    def _query(
        self,
        program_id: str,
        condition: Any,
        *,
        at: datetime,
        tz: ZoneInfo,
        currency: str,
        ladder: Iterable[str] | None,
    ) -> Any:
        compiler = _Compiler(program_id, at, tz, currency, self.postgres, tuple(ladder or ()))
        compiler.collect(condition)
        source = compiler.source()
        where = compiler.condition(condition)
        return (
            select(_MEMBERS.c.id, _MEMBERS.c.status, compiler.tier())
            .select_from(source)
            .where(
                _MEMBERS.c.program_id == program_id,
                _MEMBERS.c.merged_into.is_(None),
                _MEMBERS.c.erased_at.is_(None),
                where,
            )
        )

    def count(
        self,
        program_id: str,
        condition: Any,
        *,
        at: datetime,
        tz: ZoneInfo,
        currency: str,
        ladder: Iterable[str] | None,
    ) -> int:
        query = self._query(program_id, condition, at=at, tz=tz, currency=currency, ladder=ladder)
        return int(self.session.scalar(select(func.count()).select_from(query.subquery())) or 0)

    def members(
        self,
        program_id: str,
        condition: Any,
        *,
        at: datetime,
        tz: ZoneInfo,
        currency: str,
        ladder: Iterable[str] | None,
        after: str | None,
        limit: int,
    ) -> list[SegmentMemberRow]:
        """A page of the segment's members, by id, after the id ``after``."""
        query = self._query(program_id, condition, at=at, tz=tz, currency=currency, ladder=ladder)
        if after is not None:
            query = query.where(_MEMBERS.c.id > after)
        rows = self.session.execute(query.order_by(_MEMBERS.c.id).limit(limit)).all()
        return [SegmentMemberRow(*row) for row in rows]

    # -- one member's history, for the rule engine ----------------------------------------------

    def purchases_between(self, member_id: str, start: datetime, end: datetime) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(_PURCHASES)
                .where(
                    _PURCHASES.c.member_id == member_id,
                    _PURCHASES.c.occurred_at >= start,
                    _PURCHASES.c.occurred_at < end,
                )
            )
            or 0
        )

    def last_purchase_before(self, member_id: str, at: datetime) -> datetime | None:
        return self.session.scalar(
            select(func.max(_PURCHASES.c.occurred_at)).where(
                _PURCHASES.c.member_id == member_id, _PURCHASES.c.occurred_at < at
            )
        )

    def preferred_channel(self, member_id: str, start: datetime, end: datetime) -> str | None:
        """The channel of most purchases in [start, end); ties: the latest, then by name."""
        channel = _PURCHASES.c.channel
        last = func.max(_PURCHASES.c.occurred_at)
        return self.session.scalar(
            select(channel)
            .where(
                _PURCHASES.c.member_id == member_id,
                _PURCHASES.c.occurred_at >= start,
                _PURCHASES.c.occurred_at < end,
            )
            .group_by(channel)
            .order_by(
                func.count().desc(), last.desc(), channel.collate("C") if self.postgres else channel
            )
            .limit(1)
        )


__all__ = ["SegmentMemberRow", "SegmentRepository"]
