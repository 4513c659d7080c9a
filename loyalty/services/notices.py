"""Proactive notices as use cases: the job that finds them, the reward waits it settles, and
what members and marketers read.

``find_notices`` (``loyalty jobs notices``) walks the members once, by id, a page at a time,
and asks for each program's members of the page, with one set-based query per kind its
settings enable (``settings.notices``), who is concerned; then it walks the reward waits.
It writes one notice per member, kind and occasion (see ``loyalty.domain.notices`` for the
occasions), leaving out those already written, with a ``notice.<kind>`` event in the outbox in
the same transaction, for the webhooks. Running it twice, or in two places at once, tells
each member once: notices are inserted only if absent, and the unique key settles races.

Who is told: active members. Closed members (merged and erased ones are closed) never are.
Frozen members are skipped while frozen (an account under investigation is not nudged to
spend), but not marked: an occasion still open once they are unfrozen is noticed then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from loyalty.domain.errors import InvalidRequest, MemberNotFound
from loyalty.domain.ledger import ExpiryMode, PeriodUnit
from loyalty.domain.money import format_minor
from loyalty.domain.notices import (
    NewNotice,
    Notice,
    NoticeKind,
    birthday_suffixes,
    soonest_expiry,
    within_reach,
)
from loyalty.domain.tiers import DowngradePolicy, Ladder, Measure, WindowKind
from loyalty.domain.time import local_date
from loyalty.rules.definition import Reward
from loyalty.rules.engine import CompiledProgram
from loyalty.rules.program import Program
from loyalty.rules.settings import NoticeSettings
from loyalty.services.context import Context
from loyalty.services.points import decode_cursor, encode_cursor
from loyalty.services.tiers import TICK


@dataclass(frozen=True)
class NoticesFound:
    """What one run of the job wrote: new notices per kind (notices already there are not
    counted)."""

    by_kind: dict[NoticeKind, int]

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


@dataclass(frozen=True)
class _Program:
    program: Program
    compiled: CompiledProgram
    settings: NoticeSettings


@dataclass(frozen=True)
class _Page:
    """A page of one program's members, by id, as of ``now``."""

    program: Program
    compiled: CompiledProgram
    settings: NoticeSettings
    now: datetime
    members: list[str]


@dataclass
class _Found:
    notices: list[NewNotice] = field(default_factory=list)
    waits_over: list[tuple[str, str, datetime]] = field(default_factory=list)


def find_notices(
    ctx: Context, *, program_id: str | None = None, batch_size: int = 500
) -> NoticesFound:
    """Find and write the notices due now, in one program or in every program."""
    now = ctx.clock.now()
    with ctx.uow(read_only=True) as uow:
        ids = [program_id] if program_id is not None else uow.programs.list_ids()
        programs = {}
        for pid in ids:
            program = uow.programs.get(pid)
            compiled = uow.programs.compiled_at(program, now)
            programs[pid] = _Program(program, compiled, compiled.definition.settings.notices)
    counts = dict.fromkeys(NoticeKind, 0)
    _find_for_members(ctx, programs, now, batch_size, counts)
    for each in programs.values():
        if each.settings.reward_back_in_stock:
            _find_rewards_back(ctx, each, now, batch_size, counts)
    return NoticesFound(counts)


def _find_for_members(
    ctx: Context,
    programs: dict[str, _Program],
    now: datetime,
    batch_size: int,
    counts: dict[NoticeKind, int],
) -> None:
    """Walk every member once, by id, a page at a time; each program's members of the page
    go through the finders its settings enable."""
    finders = {pid: _finders(each.settings) for pid, each in programs.items()}
    if not any(finders.values()):
        return
    after: str | None = None
    while True:
        # Finding reads; writing takes the write lock (SQLite) only when there is something
        # to write. What was found is written if absent, so a concurrent run is harmless.
        with ctx.uow(read_only=True) as uow:
            members = uow.notices.members_after(after, batch_size)
            by_program: dict[str, list[str]] = {}
            for member_id, pid in members:
                if finders.get(pid):
                    by_program.setdefault(pid, []).append(member_id)
            found = {}
            for pid, page_members in by_program.items():
                each = programs[pid]
                page = _Page(each.program, each.compiled, each.settings, now, page_members)
                found[pid] = _Found()
                for finder in finders[pid]:
                    finder(uow, page, found[pid])
                _only_new(uow, pid, found[pid])
        _write(ctx, found, now, counts)
        if len(members) < batch_size:
            return
        after = members[-1][0]


def _find_rewards_back(
    ctx: Context, each: _Program, now: datetime, batch_size: int, counts: dict[NoticeKind, int]
) -> None:
    """Waits for rewards that have stock again (the catalogue's stock above the units issued,
    or no limit any more): the member is told and the wait ends. A closed member's wait just
    ends; a frozen member's stays until the member is unfrozen. A reward taken off the
    catalogue keeps its waits: if it comes back with stock, they are told."""
    program, definition = each.program, each.compiled.definition
    after: tuple[str, str] | None = None
    while True:
        with ctx.uow(read_only=True) as uow:
            issued = uow.rewards.issued(program.id)
            back = [
                reward
                for reward in map(definition.reward, uow.notices.awaited(program.id))
                if reward is not None
                and (reward.stock is None or issued.get(reward.id, 0) < reward.stock)
            ]
            if not back:
                return
            rewards = {reward.id: reward for reward in back}
            waits = uow.notices.waits(program.id, list(rewards), after=after, limit=batch_size)
            found = _Found()
            for reward_id, member_id, since, status in waits:
                if status == "frozen":
                    continue
                if status == "active":
                    found.notices.append(
                        _back_in_stock(rewards[reward_id], since, member_id, issued)
                    )
                found.waits_over.append((reward_id, member_id, since))
            _only_new(uow, program.id, found)
        _write(ctx, {program.id: found}, now, counts)
        if len(waits) < batch_size:
            return
        after = (waits[-1][0], waits[-1][1])


def _back_in_stock(
    reward: Reward, since: datetime, member_id: str, issued: dict[str, int]
) -> NewNotice:
    left = None if reward.stock is None else reward.stock - issued.get(reward.id, 0)
    return NewNotice(
        member_id,
        NoticeKind.REWARD_BACK_IN_STOCK,
        f"{reward.id}:{since.isoformat()}",
        {
            "reward": reward.id,
            "name": reward.name,
            "cost": reward.cost,
            "stock_left": left,
            "waiting_since": since.isoformat(),
        },
    )


def _only_new(uow: Any, program_id: str, found: _Found) -> None:
    """Leave out the notices already written (a lapsed member is found again every day until
    the member buys): steady runs read, and take no write lock."""
    if found.notices:
        written = uow.notices.existing(program_id, {n.member_id for n in found.notices})
        found.notices = [
            n for n in found.notices if (n.member_id, n.kind.value, n.occasion) not in written
        ]


def _write(
    ctx: Context, found: dict[str, _Found], now: datetime, counts: dict[NoticeKind, int]
) -> None:
    """Write what was found, each notice if absent, with its outbox event, and end the waits
    told, in one transaction."""
    if not any(f.notices or f.waits_over for f in found.values()):
        return
    with ctx.uow() as uow:
        for program_id, each in found.items():
            for notice_id, notice in uow.notices.add_absent(program_id, each.notices, now):
                uow.outbox.emit(
                    program_id=program_id,
                    member_id=notice.member_id,
                    type=notice.kind.event_type,
                    occurred_at=now,
                    recorded_at=now,
                    payload={
                        "notice_id": notice_id,
                        "kind": notice.kind.value,
                        "occasion": notice.occasion,
                        **notice.payload,
                    },
                )
                counts[notice.kind] += 1
            uow.notices.end_waits(program_id, each.waits_over)
        uow.commit()


Finder = Callable[[Any, _Page, _Found], None]


def _finders(settings: NoticeSettings) -> list[Finder]:
    enabled = [
        (settings.points_expiring_within_days is not None, _points_expiring),
        (settings.near_next_tier_percent is not None, _near_next_tier),
        (settings.tier_drop_within_days is not None, _tier_drop),
        (settings.lapsed_after_days is not None, _lapsed),
        (settings.birthday, _birthday),
    ]
    return [finder for on, finder in enabled if on]


# -- the kinds ------------------------------------------------------------------------------------


def _points_expiring(uow: Any, page: _Page, found: _Found) -> None:
    """Points that expire within ``points_expiring_within_days``: the soonest day's points.
    Lots carry their own expiry; under the inactivity policy every point also expires a period
    after the member's last earn or spend."""
    assert page.settings.points_expiring_within_days is not None
    program, now = page.program, page.now
    until = now + timedelta(days=page.settings.points_expiring_within_days)
    expiries: dict[str, list[tuple[datetime, int]]] = {}
    available: dict[str, int] = {}
    for member_id, expires_at, points, spendable in uow.notices.expiring_lots(
        page.members, now=now, until=until
    ):
        expiries.setdefault(member_id, []).append((expires_at, points))
        available[member_id] = spendable
    policy = page.compiled.definition.settings.expiry
    if policy.mode is ExpiryMode.INACTIVITY:
        # Loose bounds on the last activity (a month is 28 to 31 days, rounding moves the
        # deadline to the end of a day or month); each member is then computed exactly.
        shortest = policy.period * (28 if policy.unit is PeriodUnit.MONTHS else 1) - 1
        longest = policy.period * (31 if policy.unit is PeriodUnit.MONTHS else 1) + 32
        for member_id, last_activity, spendable in uow.notices.inactive_balances(
            page.members,
            active_after=now - timedelta(days=longest),
            active_before=until - timedelta(days=shortest),
        ):
            at = policy.inactive_from(last_activity, program.tz)
            if at is not None and now < at <= until:
                expiries.setdefault(member_id, []).append((at, spendable))
                available[member_id] = spendable
    for member_id, pairs in expiries.items():
        soonest = soonest_expiry(pairs, program.tz)
        # what the lots hold may exceed what is spendable (a return's debt): never say more
        points = min(soonest.points, available[member_id]) if soonest else 0
        if soonest is None or points <= 0:
            continue
        found.notices.append(
            NewNotice(
                member_id,
                NoticeKind.POINTS_EXPIRING,
                soonest.last_usable_day.isoformat(),
                {
                    "points": points,
                    "expires_at": soonest.expires_at.isoformat(),
                    "last_usable_day": soonest.last_usable_day.isoformat(),
                },
            )
        )


def _near_next_tier(uow: Any, page: _Page, found: _Found) -> None:
    """Members whose measure is within ``near_next_tier_percent`` % of the next tier's
    threshold (and below it), once per target tier and qualification period."""
    ladder = page.compiled.ladder
    percent = page.settings.near_next_tier_percent
    if ladder is None or len(ladder.levels) < 2 or percent is None:
        return
    program, now = page.program, page.now
    reach = {
        level.id: within_reach(following.threshold, percent)
        for level, following in zip(ladder.levels, ladder.levels[1:], strict=False)
    }
    candidates = uow.notices.within_reach(
        page.members,
        measure=ladder.measure,
        since=_widest_window_start(ladder, now, program),
        end=now + TICK,
        lowest=ladder.levels[0].id,
        top=ladder.levels[-1].id,
        reach=reach,
    )
    measured = uow.notices.measures(
        {m: ladder.window_start(now, enrolled_at, program.tz) for m, enrolled_at, _ in candidates},
        ladder.measure,
        now + TICK,
    )
    for member_id, enrolled_at, tier in candidates:
        current = ladder.level(tier)
        following = ladder.above(current)
        measure = measured.get(member_id, 0)
        if following is None or not reach[current.id] <= measure < following.threshold:
            continue
        found.notices.append(
            NewNotice(
                member_id,
                NoticeKind.NEAR_NEXT_TIER,
                f"{following.id}:{_period_key(ladder, now, enrolled_at, program)}",
                {
                    "tier": current.id,
                    "next_tier": following.id,
                    "measure": ladder.measure.value,
                    "current": _text(measure, ladder.measure, program),
                    "needed": _text(following.threshold - measure, ladder.measure, program),
                },
            )
        )


def _widest_window_start(ladder: Ladder, now: datetime, program: Program) -> datetime | None:
    """A start no later than any member's window start (membership years differ by member:
    none began more than a year and a day ago)."""
    if ladder.window is WindowKind.MEMBERSHIP_YEAR:
        return now - timedelta(days=367)
    return ladder.window_start(now, now, program.tz)


def _period_key(ladder: Ladder, now: datetime, enrolled_at: datetime, program: Program) -> str:
    if ladder.window is WindowKind.LIFETIME:
        return "lifetime"
    start = ladder.period_bounds(now, enrolled_at, program.tz)[0]
    return local_date(start, program.tz).isoformat()


def _tier_drop(uow: Any, page: _Page, found: _Found) -> None:
    """Members whose tier drops within ``tier_drop_within_days``: a drop the review already
    scheduled (grace), unless the member requalified since; or the end of the current
    qualification period (plus any grace), if the measure so far would leave a lower tier."""
    ladder = page.compiled.ladder
    days = page.settings.tier_drop_within_days
    if (
        ladder is None
        or days is None
        or ladder.downgrade is DowngradePolicy.NONE
        or ladder.window is WindowKind.LIFETIME
    ):
        return
    program, now = page.program, page.now
    until = now + timedelta(days=days)
    grace = timedelta(days=ladder.grace_days)
    due: dict[str, tuple[Any, datetime, bool]] = {}
    for row in uow.notices.tier_states(page.members, lowest=ladder.levels[0].id):
        scheduled = row.drop_at is not None
        drop_at = (
            row.drop_at
            if scheduled
            else (ladder.period_bounds(now, row.enrolled_at, program.tz)[1] + grace)
        )
        if now < drop_at <= until and ladder.level(row.tier).rank > 0:
            due[row.id] = (row, drop_at, scheduled)
    measured = uow.notices.measures(
        {
            m: ladder.window_start(now, row.enrolled_at, program.tz)
            for m, (row, _, _) in due.items()
        },
        ladder.measure,
        now + TICK,
    )
    for member_id, (row, drop_at, scheduled) in due.items():
        current = ladder.level(row.tier)
        measure = measured.get(member_id, 0)
        floor = (
            ladder.level(row.manual_tier)
            if row.manual_tier is not None and (row.manual_until is None or row.manual_until > now)
            else None
        )
        if scheduled:
            if measure >= current.threshold:
                continue  # requalified: the review cancels the drop
            target = ladder.level(row.drop_to)
            if floor is not None and floor.rank > target.rank:
                target = floor
        else:
            review_at = drop_at - grace
            kept = (
                floor
                if floor is not None and (row.manual_until is None or row.manual_until > review_at)
                else None
            )
            target = ladder.after_review(current, measure, kept)
        if target.rank >= current.rank:
            continue
        found.notices.append(
            NewNotice(
                member_id,
                NoticeKind.TIER_DROP,
                f"{target.id}:{local_date(drop_at, program.tz).isoformat()}",
                {
                    "tier": current.id,
                    "drop_to": target.id,
                    "drop_at": drop_at.isoformat(),
                    "days": (drop_at - now).days,
                    "scheduled": scheduled,
                    "measure": ladder.measure.value,
                    "current": _text(measure, ladder.measure, program),
                    "needed": _text(max(current.threshold - measure, 0), ladder.measure, program),
                },
            )
        )


def _lapsed(uow: Any, page: _Page, found: _Found) -> None:
    """Members who bought before and not for ``lapsed_after_days`` (win-back): once per last
    purchase, so a member who comes back and lapses again is told again."""
    assert page.settings.lapsed_after_days is not None
    program, now = page.program, page.now
    for member_id, last_purchase in uow.notices.last_purchases(
        page.members,
        before=now - timedelta(days=page.settings.lapsed_after_days),
    ):
        found.notices.append(
            NewNotice(
                member_id,
                NoticeKind.LAPSED,
                local_date(last_purchase, program.tz).isoformat(),
                {"last_purchase_at": last_purchase.isoformat(), "days": (now - last_purchase).days},
            )
        )


def _birthday(uow: Any, page: _Page, found: _Found) -> None:
    """Members whose birthday (the ``birth_date`` attribute) is today in the program's zone."""
    today = local_date(page.now, page.program.tz)
    for member_id in uow.notices.born_on(page.members, birthday_suffixes(today)):
        found.notices.append(
            NewNotice(
                member_id,
                NoticeKind.BIRTHDAY,
                str(today.year),
                {"year": today.year, "date": today.isoformat()},
            )
        )


def _text(value: int, measure: Measure, program: Program) -> str:
    """A measure as the tier progress shows it: a decimal string for spend."""
    return format_minor(value, program.currency) if measure is Measure.SPEND else str(value)


# -- reward waits ---------------------------------------------------------------------------------


def record_reward_wait(ctx: Context, program_id: str, reward_id: str, member_id: str) -> None:
    """Remember that the member was refused the reward because it was out of stock, to tell
    the member when it is back. Its own small transaction: the refusal rolled back its own.
    Nothing is recorded when the program does not send these notices."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        program = uow.programs.get(program_id)
        if not uow.programs.compiled_at(
            program, now
        ).definition.settings.notices.reward_back_in_stock:
            return
        uow.notices.add_wait(program_id, reward_id, member_id, now)
        uow.commit()


# -- reading notices ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticePage:
    notices: tuple[Notice, ...]
    next_cursor: str | None


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    before_id = decode_cursor(cursor)
    if before_id is None:
        raise InvalidRequest("this cursor was not given by this API", field="cursor")
    return before_id


def _paged(notices: list[Notice], limit: int) -> NoticePage:
    more = len(notices) > limit
    notices = notices[:limit]
    return NoticePage(tuple(notices), encode_cursor(notices[-1].id) if more else None)


def member_notices(
    ctx: Context, program_id: str, member_id: str, *, limit: int, cursor: str | None = None
) -> NoticePage:
    """The member's notices, newest first."""
    before_id = _cursor(cursor)
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        if uow.members.status_of(program_id, member_id) is None:
            raise MemberNotFound(f"there is no member {member_id!r} in this program")
        notices = uow.notices.of_member(program_id, member_id, before_id=before_id, limit=limit + 1)
    return _paged(notices, limit)


def program_notices(
    ctx: Context,
    program_id: str,
    *,
    kind: NoticeKind | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    cursor: str | None = None,
) -> NoticePage:
    """The program's notices, newest first, of one kind and written in [since, until) if
    asked."""
    if since is not None and until is not None and since >= until:
        raise InvalidRequest("'to' comes after 'from'", field="to")
    before_id = _cursor(cursor)
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        notices = uow.notices.of_program(
            program_id, kind=kind, since=since, until=until, before_id=before_id, limit=limit + 1
        )
    return _paged(notices, limit)
