"""The member facts of recent purchases, gathered for the rule engine only when asked.

``member.purchases_last_days``, ``member.days_since_last_purchase`` and
``member.preferred_channel`` each cost a query. ``earning.member_facts`` calls
``history_facts`` only when a rule in force asks about one of them (directly, or through a
segment it names); a program without such rules pays nothing on its posting path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loyalty.rules.engine import PREFERRED_CHANNEL_DAYS, FactNeeds, days_window_start
from loyalty.rules.program import Program


def history_facts(
    uow: Any, program: Program, needs: FactNeeds, member_id: str, at: datetime
) -> dict[str, Any]:
    """The ``MemberFacts`` fields of the member's purchases before ``at`` that ``needs``
    names, and only those; "the last N days" are days of the program's zone."""
    facts: dict[str, Any] = {}
    if needs.purchase_days:
        facts["purchases_last_days"] = {
            days: uow.segments.purchases_between(
                member_id, days_window_start(at, days, program.tz), at
            )
            for days in needs.purchase_days
        }
    if needs.last_purchase:
        facts["last_purchase_at"] = uow.segments.last_purchase_before(member_id, at)
    if needs.preferred_channel:
        start = days_window_start(at, PREFERRED_CHANNEL_DAYS, program.tz)
        facts["preferred_channel"] = uow.segments.preferred_channel(member_id, start, at)
    return facts


def replayed_history_facts(
    past: list[tuple[datetime, int, str]], at: datetime, needs: FactNeeds, tz: Any
) -> dict[str, Any]:
    """``history_facts`` from purchases replayed in memory (the back-test's): ``past`` holds
    (occurred_at, total, channel) of the member's earlier purchases, oldest first."""
    facts: dict[str, Any] = {}
    if needs.purchase_days:
        facts["purchases_last_days"] = {
            days: sum(1 for when, _, _ in past if days_window_start(at, days, tz) <= when < at)
            for days in needs.purchase_days
        }
    if needs.last_purchase:
        facts["last_purchase_at"] = max((when for when, _, _ in past if when < at), default=None)
    if needs.preferred_channel:
        start = days_window_start(at, PREFERRED_CHANNEL_DAYS, tz)
        counts: dict[str, list[Any]] = {}
        for when, _, channel in past:
            if start <= when < at:
                seen = counts.setdefault(channel, [0, when])
                seen[0] += 1
                seen[1] = max(seen[1], when)
        # most purchases, then the latest, then the first name (as the database orders them)
        # (a reverse sort is stable: equal counts and instants keep the names' order)
        ranked = sorted(
            sorted(counts.items()), key=lambda item: (item[1][0], item[1][1]), reverse=True
        )
        facts["preferred_channel"] = ranked[0][0] if ranked else None
    return facts
