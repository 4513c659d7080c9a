"""Analytics: a program's figures for a period, for marketers and finance.

A report covers the calendar days ``start`` to ``end`` (both included) in the program's time
zone: from the start of ``start`` to the start of the day after ``end``, as UTC instants. The
*previous period* is the same number of days just before it (what retention compares with).
Every figure is defined in the README ("Analytics: figure definitions"); in short:

- purchase figures count the purchases whose ``occurred_at`` is in the period; revenue is their
  ``total`` net of every refund recorded so far for them (a return lowers the revenue of its
  purchase's period and channel, whenever it happens);
- points figures add up the ledger entries whose ``occurred_at`` is in the period;
- pending points, the liability and the tier distribution are as of now (``as_of``): the
  members' summary rows and current tiers;
- rates are exact fractions rounded half-even for display (4 decimals; NPS 1; averages and
  frequency 2), never floats; a rate whose denominator is zero is ``None``;
- money is integer minor units, rounded half-even where a division or the cost of a point
  makes fractions.

The counting is done by the database (``loyalty.adapters.analytics_repositories``); this module
only divides, rounds and assembles. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from typing import Any

from loyalty.adapters.analytics_repositories import (
    CHANNEL,
    TIER,
    TOTAL,
    BalanceAggregate,
    FeedbackAggregate,
    MemberAggregate,
    PurchaseAggregate,
)
from loyalty.domain.errors import InvalidRequest
from loyalty.domain.money import currency_exponent, format_minor
from loyalty.domain.time import end_of_month, start_of_day
from loyalty.services.context import Context

BREAKDOWNS = (CHANNEL, TIER)
INTERVALS = ("day", "week", "month")
MAX_DAYS = 731  # two years: a year-on-year trend fits; the number of day buckets stays small
MAX_TOP = 100
EARLIEST, LATEST = date(1970, 1, 1), date(2199, 12, 31)
# Predictive CLV: a member is expected to stay 1 / churn periods, but never more than this.
LIFETIME_CAP_DAYS = 3650
RATE_PLACES, NPS_PLACES, AVERAGE_PLACES = 4, 1, 2

_NONE_YET = PurchaseAggregate(0, 0, 0, 0, 0, 0)
_NO_MEMBERS = MemberAggregate(0, 0)
_NO_BALANCES = BalanceAggregate(0, 0)


@dataclass(frozen=True)
class ReportRequest:
    program_id: str
    start: date  # the first day of the period, in the program's time zone
    end: date  # the last day, included
    by: str | None = None  # "channel" or "tier": a breakdown beside the totals
    interval: str | None = None  # "day", "week" or "month"; default: by the period's length
    top: int = 10  # how many rewards the popularity list shows


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # included
    starts_at: datetime  # UTC, included
    ends_at: datetime  # UTC, excluded: the start of the day after ``end``

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Figures:
    """The figures of the whole program, or of one channel or tier. A figure that has no
    meaning for a breakdown (new members of a channel...) is ``None``. Money in minor units."""

    key: str  # "total", a channel, or a tier id
    # members
    members: int | None  # enrolled by the period's end (merged duplicates left out)
    new_members: int | None
    active_members: int
    repeat_members: int
    repeat_purchase_rate: Decimal | None
    previous_active_members: int
    retained_members: int
    retention_rate: Decimal | None
    churn_rate: Decimal | None
    # purchases
    purchases: int
    revenue: int
    average_order_value: int | None
    purchase_frequency: Decimal | None
    clv_historical: int | None
    clv_predicted: int | None
    # feedback
    nps: Decimal | None
    nps_answers: int
    csat_average: Decimal | None
    csat_answers: int
    ces_average: Decimal | None
    ces_answers: int
    # points
    points_issued: int | None
    points_redeemed: int | None
    points_expired: int | None
    points_reversed: int | None
    points_adjusted: int | None
    points_pending: int | None
    redemption_rate: Decimal | None
    breakage_rate: Decimal | None
    liability_points: int | None
    liability: int | None
    pending_liability: int | None


@dataclass(frozen=True)
class TrendPoint:
    start: date
    end: date  # included
    active_members: int
    new_members: int
    purchases: int
    revenue: int
    points_issued: int
    points_redeemed: int


@dataclass(frozen=True)
class TierCount:
    tier: str
    name: str | None  # None: a tier the ladder in force no longer has
    members: int


@dataclass(frozen=True)
class TierMove:
    from_tier: str | None
    to_tier: str
    direction: str  # up, down, or other (a tier the ladder in force does not rank)
    moves: int


@dataclass(frozen=True)
class RewardCount:
    reward_id: str
    name: str
    redemptions: int
    points: int


@dataclass(frozen=True)
class AnalyticsReport:
    program_id: str
    program_name: str
    currency: str
    time_zone: str
    period: Period
    previous: Period
    as_of: datetime
    cost_per_point: Decimal  # currency units
    interval: str
    by: str | None
    totals: Figures
    groups: tuple[Figures, ...]
    trend: tuple[TrendPoint, ...]
    tier_distribution: tuple[TierCount, ...]
    tier_moves: tuple[TierMove, ...]
    rewards: tuple[RewardCount, ...]

    @property
    def tier_moves_up(self) -> int:
        return sum(m.moves for m in self.tier_moves if m.direction == "up")

    @property
    def tier_moves_down(self) -> int:
        return sum(m.moves for m in self.tier_moves if m.direction == "down")

    def money(self, minor: int | None) -> str | None:
        return None if minor is None else format_minor(minor, self.currency)

    def document(self) -> dict[str, Any]:
        """The report as plain values: money and rates as decimal strings; days and the
        instant stay ``date`` and ``datetime`` (the API and the CLI write them in ISO 8601)."""

        def figures(f: Figures) -> dict[str, Any]:
            values: dict[str, Any] = {}
            for name in Figures.__dataclass_fields__:
                value = getattr(f, name)
                if name in _MONEY_FIGURES:
                    value = self.money(value)
                elif isinstance(value, Decimal):
                    value = str(value)
                values[name] = value
            return values

        return {
            "program_id": self.program_id,
            "program_name": self.program_name,
            "currency": self.currency,
            "time_zone": self.time_zone,
            "from": self.period.start,
            "to": self.period.end,
            "days": self.period.days,
            "previous_from": self.previous.start,
            "previous_to": self.previous.end,
            "as_of": self.as_of,
            "cost_per_point": format(self.cost_per_point, "f"),  # never "1E-7"
            "interval": self.interval,
            "by": self.by,
            "totals": figures(self.totals),
            "groups": [figures(g) for g in self.groups],
            "trend": [
                {
                    "start": t.start,
                    "end": t.end,
                    "active_members": t.active_members,
                    "new_members": t.new_members,
                    "purchases": t.purchases,
                    "revenue": self.money(t.revenue),
                    "points_issued": t.points_issued,
                    "points_redeemed": t.points_redeemed,
                }
                for t in self.trend
            ],
            "tier_distribution": [
                {"tier": t.tier, "name": t.name, "members": t.members}
                for t in self.tier_distribution
            ],
            "tier_moves": [
                {
                    "from_tier": m.from_tier,
                    "to_tier": m.to_tier,
                    "direction": m.direction,
                    "moves": m.moves,
                }
                for m in self.tier_moves
            ],
            "tier_moves_up": self.tier_moves_up,
            "tier_moves_down": self.tier_moves_down,
            "rewards": [
                {
                    "reward_id": r.reward_id,
                    "name": r.name,
                    "redemptions": r.redemptions,
                    "points": r.points,
                }
                for r in self.rewards
            ],
        }


_MONEY_FIGURES = frozenset(
    {
        "revenue",
        "average_order_value",
        "clv_historical",
        "clv_predicted",
        "liability",
        "pending_liability",
    }
)


# -- exact arithmetic ---------------------------------------------------------------------------


def _rounded(value: Fraction, places: int) -> Decimal:
    """``value`` rounded half-even to ``places`` decimals (exact: the division is carried far
    beyond the digits kept, and a tie is always a finite decimal)."""
    with localcontext() as context:
        context.prec = 60
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def ratio(
    numerator: int | Fraction, denominator: int | Fraction, places: int = RATE_PLACES
) -> Decimal | None:
    """``numerator / denominator`` rounded half-even, or ``None`` when the denominator is 0."""
    if denominator == 0:
        return None
    return _rounded(Fraction(numerator) / Fraction(denominator), places)


def _minor(value: Fraction | None) -> int | None:
    """An amount in minor units, rounded half-even to a whole unit."""
    return None if value is None else int(_rounded(value, 0))


# -- periods and buckets ------------------------------------------------------------------------


def _period(start: date, end: date, tz: Any) -> Period:
    return Period(start, end, start_of_day(start, tz), start_of_day(end + timedelta(days=1), tz))


def default_interval(days: int) -> str:
    """Day buckets up to a month, weeks up to half a year, months beyond."""
    if days <= 31:
        return "day"
    return "week" if days <= 184 else "month"


def buckets(start: date, end: date, interval: str) -> list[tuple[date, date]]:
    """(first day, last day) of each bucket of [start, end]: days, weeks from Monday to Sunday,
    or calendar months; the first and last buckets are cut at the period's edges."""
    found: list[tuple[date, date]] = []
    first = start
    while first <= end:
        if interval == "day":
            last = first
        elif interval == "week":
            last = first + timedelta(days=6 - first.weekday())
        else:
            last = end_of_month(first)
        last = min(last, end)
        found.append((first, last))
        first = last + timedelta(days=1)
    return found


# -- the report ---------------------------------------------------------------------------------


def _check(request: ReportRequest) -> None:
    if request.by not in (None, *BREAKDOWNS):
        raise InvalidRequest("by is 'channel' or 'tier'", field="by")
    if request.interval not in (None, *INTERVALS):
        raise InvalidRequest("interval is 'day', 'week' or 'month'", field="interval")
    if not 1 <= request.top <= MAX_TOP:
        raise InvalidRequest(f"top is between 1 and {MAX_TOP}", field="top")
    if not EARLIEST <= request.start <= LATEST:
        raise InvalidRequest(f"from is between {EARLIEST} and {LATEST}", field="from")
    if not EARLIEST <= request.end <= LATEST:
        raise InvalidRequest(f"to is between {EARLIEST} and {LATEST}", field="to")
    if request.end < request.start:
        raise InvalidRequest("to is on or after from (both days are included)", field="to")
    if (request.end - request.start).days + 1 > MAX_DAYS:
        raise InvalidRequest(f"a report covers at most {MAX_DAYS} days", field="to")


def analytics_report(ctx: Context, request: ReportRequest) -> AnalyticsReport:
    """The program's figures for the period, its breakdown and its trend."""
    _check(request)
    now = ctx.clock.now()
    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(request.program_id)
        compiled = uow.programs.compiled_at(program, now)
        ladder = compiled.ladder
        if request.by == TIER and ladder is None:
            raise InvalidRequest(
                "this program has no tiers to break the figures down by", field="by"
            )
        lowest = ladder.levels[0].id if ladder is not None else None
        settings = compiled.definition.settings
        cost = settings.finance.cost_per_point or settings.redemption.point_value
        tz = program.tz
        period = _period(request.start, request.end, tz)
        previous = _period(
            request.start - timedelta(days=period.days), request.start - timedelta(days=1), tz
        )
        interval = request.interval or default_interval(period.days)
        spans = buckets(period.start, period.end, interval)
        bounds = [start_of_day(first, tz) for first, _ in spans] + [period.ends_at]

        a = uow.analytics
        window = {"start": period.starts_at, "end": period.ends_at}
        purchases = a.purchases(
            program.id, previous_start=previous.starts_at, by=None, lowest=lowest, **window
        )
        members = a.members(program.id, by=None, lowest=lowest, **window)
        to_date = a.revenue_to_date(program.id, end=period.ends_at, by=None, lowest=lowest)
        balances = a.balances(program.id, by=None, lowest=lowest)
        feedback = a.feedback(program.id, by=None, lowest=lowest, **window)
        purchase_trend = a.purchase_trend(program.id, bounds)
        points_trend = a.points_trend(program.id, bounds)
        enrolment_trend = a.enrolment_trend(program.id, bounds)
        groups: tuple[Figures, ...] = ()
        if request.by is not None:
            groups = _groups(
                uow,
                program.id,
                request.by,
                lowest,
                ladder,
                previous,
                window,
                period.days,
                cost,
                program.currency,
            )
        distribution = (
            a.tier_distribution(program.id, lowest)
            if ladder is not None and lowest is not None
            else {}
        )
        moves = a.tier_moves(program.id, **window)
        rewards = a.reward_popularity(program.id, top=request.top, **window)

    points: dict[str, int] = {}
    for kinds in points_trend.values():
        for kind, value in kinds.items():
            points[kind] = points.get(kind, 0) + value
    totals = _figures(
        TOTAL,
        purchases.get(TOTAL, _NONE_YET),
        members.get(TOTAL, _NO_MEMBERS),
        points,
        balances.get(TOTAL, _NO_BALANCES),
        feedback.get(TOTAL, {}),
        to_date.get(TOTAL, 0),
        days=period.days,
        cost=cost,
        currency=program.currency,
    )
    trend = []
    for index, (first, last) in enumerate(spans):
        bought = purchase_trend.get(index)
        kinds = points_trend.get(index, {})
        trend.append(
            TrendPoint(
                first,
                last,
                bought.active if bought else 0,
                enrolment_trend.get(index, 0),
                bought.purchases if bought else 0,
                bought.revenue if bought else 0,
                kinds.get("earn", 0) + kinds.get("pending_earn", 0),
                -kinds.get("redeem", 0),
            )
        )
    ranks = {level.id: level.rank for level in ladder.levels} if ladder is not None else {}
    names = {level.id: level.name for level in ladder.levels} if ladder is not None else {}
    tiers = [
        TierCount(level.id, level.name, distribution.get(level.id, 0))
        for level in (ladder.levels if ladder is not None else ())
    ]
    tiers += [
        TierCount(tier, None, n) for tier, n in sorted(distribution.items()) if tier not in names
    ]
    return AnalyticsReport(
        program_id=program.id,
        program_name=program.name,
        currency=program.currency,
        time_zone=program.time_zone,
        period=period,
        previous=previous,
        as_of=now,
        cost_per_point=cost,
        interval=interval,
        by=request.by,
        totals=totals,
        groups=groups,
        trend=tuple(trend),
        tier_distribution=tuple(tiers),
        tier_moves=tuple(
            sorted(
                (TierMove(f, t, _direction(ranks, f, t), n) for f, t, n in moves),
                key=lambda m: (
                    ranks.get(m.from_tier or "", len(ranks)),
                    m.from_tier or "",
                    ranks.get(m.to_tier, len(ranks)),
                    m.to_tier,
                ),
            )
        ),
        rewards=tuple(RewardCount(*reward) for reward in rewards),
    )


def _direction(ranks: dict[str, int], from_tier: str | None, to_tier: str) -> str:
    if from_tier not in ranks or to_tier not in ranks:
        return "other"
    return "up" if ranks[to_tier] > ranks[from_tier] else "down"


def _groups(
    uow: Any,
    program_id: str,
    by: str,
    lowest: str | None,
    ladder: Any,
    previous: Period,
    window: dict[str, datetime],
    days: int,
    cost: Decimal,
    currency: str,
) -> tuple[Figures, ...]:
    a = uow.analytics
    purchases = a.purchases(
        program_id, previous_start=previous.starts_at, by=by, lowest=lowest, **window
    )
    points = a.points(program_id, by=by, lowest=lowest, **window)
    feedback = a.feedback(program_id, by=by, lowest=lowest, **window)
    if by == TIER:
        members = a.members(program_id, by=by, lowest=lowest, **window)
        to_date = a.revenue_to_date(program_id, end=window["end"], by=by, lowest=lowest)
        balances = a.balances(program_id, by=by, lowest=lowest)
        levels = [level.id for level in ladder.levels]
        found = set(purchases) | set(points) | set(feedback) | set(members) | set(balances)
        keys = levels + sorted(found - set(levels))
        return tuple(
            _figures(
                key,
                purchases.get(key, _NONE_YET),
                members.get(key, _NO_MEMBERS),
                points.get(key, {}),
                balances.get(key, _NO_BALANCES),
                feedback.get(key, {}),
                to_date.get(key, 0),
                days=days,
                cost=cost,
                currency=currency,
            )
            for key in keys
        )
    keys = sorted(set(purchases) | set(points) | set(feedback))
    return tuple(
        _figures(
            key,
            purchases.get(key, _NONE_YET),
            None,
            points.get(key, {}),
            None,
            feedback.get(key, {}),
            None,
            days=days,
            cost=cost,
            currency=currency,
            channel=True,
        )
        for key in keys
    )


def _figures(
    key: str,
    bought: PurchaseAggregate,
    members: MemberAggregate | None,
    points: dict[str, int],
    balances: BalanceAggregate | None,
    feedback: dict[str, FeedbackAggregate],
    revenue_to_date: int | None,
    *,
    days: int,
    cost: Decimal,
    currency: str,
    channel: bool = False,
) -> Figures:
    """One row of figures. ``members`` and ``balances`` are None for a channel: no figure
    about enrolment, pending points or liability belongs to a channel; nor do redeemed,
    expired and adjusted points (only the points of the channel's purchases are counted)."""
    retention = ratio(bought.retained, bought.previous_active)
    churn = ratio(bought.previous_active - bought.retained, bought.previous_active)
    average = Fraction(bought.revenue, bought.purchases) if bought.purchases else None
    predicted = None
    if bought.active and bought.previous_active and not channel:
        lost = Fraction(bought.previous_active - bought.retained, bought.previous_active)
        cap = Fraction(LIFETIME_CAP_DAYS, days)
        lifetime = min(1 / lost, cap) if lost else cap
        predicted = Fraction(bought.revenue, bought.active) * lifetime
    historical = None
    if members is not None and members.members and revenue_to_date is not None:
        historical = Fraction(revenue_to_date, members.members)
    nps, csat, ces = (feedback.get(kind) for kind in ("nps", "csat", "ces"))
    issued = points.get("earn", 0) + points.get("pending_earn", 0)
    redeemed = -points.get("redeem", 0)
    expired = -points.get("expire", 0)
    scale = Decimal(10) ** currency_exponent(currency)
    return Figures(
        key=key,
        members=members.members if members is not None else None,
        new_members=members.new if members is not None else None,
        active_members=bought.active,
        repeat_members=bought.repeat,
        repeat_purchase_rate=ratio(bought.repeat, bought.active),
        previous_active_members=bought.previous_active,
        retained_members=bought.retained,
        retention_rate=retention,
        churn_rate=churn,
        purchases=bought.purchases,
        revenue=bought.revenue,
        average_order_value=_minor(average),
        purchase_frequency=ratio(bought.purchases, bought.active, AVERAGE_PLACES),
        clv_historical=_minor(historical),
        clv_predicted=_minor(predicted),
        nps=(
            ratio(100 * (nps.promoters - nps.detractors), nps.answers, NPS_PLACES) if nps else None
        ),
        nps_answers=nps.answers if nps else 0,
        csat_average=ratio(csat.score_total, csat.answers, AVERAGE_PLACES) if csat else None,
        csat_answers=csat.answers if csat else 0,
        ces_average=ratio(ces.score_total, ces.answers, AVERAGE_PLACES) if ces else None,
        ces_answers=ces.answers if ces else 0,
        points_issued=issued,
        points_redeemed=None if channel else redeemed,
        points_expired=None if channel else expired,
        points_reversed=-points.get("reverse", 0),
        points_adjusted=None if channel else points.get("adjust", 0),
        points_pending=balances.pending if balances is not None else None,
        redemption_rate=None if channel else ratio(redeemed, issued),
        breakage_rate=None if channel else ratio(expired, redeemed + expired),
        liability_points=balances.outstanding if balances is not None else None,
        liability=(
            _minor(Fraction(balances.outstanding * cost * scale)) if balances is not None else None
        ),
        pending_liability=(
            _minor(Fraction(balances.pending * cost * scale)) if balances is not None else None
        ),
    )
