"""Returns and cancellations: reversing what a purchase earned, never more.

A return names returned lines (sku and units) or an amount. The purchase's points are
recomputed on what remains (under the program version the purchase was evaluated against) and
the difference with what it still holds is reversed: several partial returns can never reverse
more than was earned, and rounding never drifts, because each recomputation starts from the
original purchase. Pending points of the purchase are reversed before available ones. When the
points were already spent, the program's negative-balance policy decides: ``allow`` (the member
owes the rest; later earnings pay it first), ``clamp`` (what cannot be reversed is recorded and
dropped), or ``refuse`` (the return is refused and nothing is written). Points burned on the
purchase are given back in proportion to the refunded value, into the lots they came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from loyalty.domain.basket import Basket, PurchaseLine
from loyalty.domain.business_events import points_reversed
from loyalty.domain.errors import (
    CurrencyMismatch,
    InvalidRequest,
    PurchaseNotFound,
    ReturnRefused,
)
from loyalty.domain.ledger import Allocation, BalanceChange, EntryKind, NewEntry, fefo_key
from loyalty.domain.members import new_id
from loyalty.domain.money import format_minor
from loyalty.domain.rewards import remaining_lines, scaled_lines
from loyalty.domain.time import utc
from loyalty.rules.settings import NegativeBalancePolicy
from loyalty.services.context import Context
from loyalty.services.earning import member_facts
from loyalty.services.idempotency import (
    IdempotencyKey,
    Outcome,
    claim,
    fingerprint,
    remember,
    serialisable,
)
from loyalty.services.tiers import TICK, after_return, tier_at


@dataclass(frozen=True)
class RecordReturn:
    program_id: str
    purchase_id: str
    external_id: str
    occurred_at: datetime | None = None  # default: now
    lines: dict[str, int] | None = None  # sku -> units returned
    amount: int | None = None  # minor units refunded, for a return by amount
    request_key: IdempotencyKey | None = None
    everything: bool = False  # a cancellation: whatever remains of the purchase
    currency: str | None = None  # with an amount: must be the purchase's


@dataclass(frozen=True)
class ReturnRecorded:
    return_id: str
    purchase_id: str
    external_id: str
    refunded: str
    points_reversed: int
    points_not_reversed: int
    points_given_back: int
    points_remaining: int  # what the purchase still holds
    available: int
    pending: int
    debt: int
    remaining_lines: dict[str, int] = field(default_factory=dict)


def record_return(ctx: Context, command: RecordReturn) -> Outcome[ReturnRecorded]:
    """Record a return or cancellation and reverse the points it takes back, in one
    transaction."""
    with ctx.uow() as uow:
        outcome = record_return_in(uow, command, ctx.clock.now(), ctx.future_tolerance)
        if not outcome.replayed:
            uow.commit()
    return outcome


def record_return_in(uow: Any, command: RecordReturn, now: datetime,
                     future_tolerance: timedelta) -> Outcome[ReturnRecorded]:
    """Record a return within the caller's unit of work, without committing (the bulk importer
    runs many in one transaction)."""
    if not command.everything and (command.lines is None) == (command.amount is None):
        raise InvalidRequest("return lines or an amount", field="lines")
    if command.lines is not None and (not command.lines or any(
            units <= 0 for units in command.lines.values())):
        raise InvalidRequest("return at least one unit of each line named", field="lines")
    if command.amount is not None and command.amount <= 0:
        raise InvalidRequest("a returned amount is positive", field="amount")
    natural = (f"return:{command.external_id}", fingerprint(replace(command, request_key=None)))
    occurred_at = utc(command.occurred_at) if command.occurred_at else now
    program = uow.programs.get(command.program_id)
    keys, replay = claim(uow, program.id, natural, command.request_key, ReturnRecorded,
                         now)
    if replay is not None:
        return replay
    purchase = uow.returns.purchase(program.id, command.purchase_id)
    if purchase is None:
        raise PurchaseNotFound(f"there is no purchase {command.purchase_id!r}")
    if command.amount is not None and command.currency not in (None, purchase.currency):
        raise CurrencyMismatch(f"this purchase was paid in {purchase.currency}, not "
                               f"{command.currency}", field="currency")
    if occurred_at < purchase.occurred_at:
        raise InvalidRequest("a return happens after its purchase", field="occurred_at")
    if occurred_at > now + future_tolerance:
        raise InvalidRequest("occurred_at is in the future", field="occurred_at")
    member_id = purchase.member_id
    # One member at a time: concurrent returns of one purchase see each other's effect.
    uow.ledger.lock_member(member_id)
    previous = uow.returns.of_purchase(purchase.id)
    original = tuple(PurchaseLine(
        sku=line["sku"], quantity=line["quantity"], unit_price=line["unit_price"],
        discount=line["discount"], tax=line["tax"], category=line["category"],
        tags=tuple(line.get("tags") or ())) for line in purchase.lines)
    lines_total = sum(line.amount for line in original)
    by_lines = [r for r in previous if r.lines is not None]
    by_amount = [r for r in previous if r.lines is None]
    returned_units: dict[str, int] = {}
    for earlier in by_lines:
        for sku, units in earlier.lines.items():
            returned_units[sku] = returned_units.get(sku, 0) + units
    returned_amount = sum(r.amount for r in by_amount)
    before = _left(original, returned_units, returned_amount, lines_total)
    if command.everything:
        this_units = None if by_amount else {
            line.sku: line.quantity for line in before if line.quantity}
        this_amount = (lines_total - returned_amount) if by_amount else None
    else:
        this_units, this_amount = command.lines, command.amount
    if (by_lines and this_amount is not None) or (by_amount and this_units is not None):
        raise InvalidRequest("this purchase was returned by "
                             + ("lines" if by_lines else "amount")
                             + "; return it the same way", field="lines")
    if this_units is not None:
        bought = {}
        for line in original:
            bought[line.sku] = bought.get(line.sku, 0) + line.quantity
        for sku, units in this_units.items():
            left = bought.get(sku, 0) - returned_units.get(sku, 0)
            if units > left:
                raise ReturnRefused(f"{units} unit(s) of {sku} cannot be returned: "
                                    f"{left} remain on this purchase",
                                    field="lines", sku=sku, remaining=left)
            returned_units[sku] = returned_units.get(sku, 0) + units
    else:
        assert this_amount is not None
        if returned_amount + this_amount > lines_total:
            left = lines_total - returned_amount
            raise ReturnRefused(f"{format_minor(this_amount, purchase.currency)} cannot be "
                                f"refunded: {format_minor(left, purchase.currency)} remain",
                                field="amount")
        returned_amount += this_amount
    after = _left(original, returned_units, returned_amount, lines_total)
    # An amount return refunds exactly the amount; the scaled lines only re-evaluate rules.
    refunded = (this_amount if this_amount is not None else
                sum(line.amount for line in before) - sum(line.amount for line in after))
    everything_back = not after

    # What the purchase should hold now: recomputed on what remains, never more than earned.
    compiled = uow.programs.compiled(program, _version_of(uow, purchase))
    profile = uow.members.facts_row(program.id, member_id)
    tier = None
    if compiled.ladder is not None and compiled.definition.tiers is not None:
        # the tier the purchase earned at: after its own upgrade, when upgrades earn at once
        at_new = compiled.definition.tiers.upgrade_earns_at_new_tier
        tier = tier_at(uow, compiled.ladder, member_id,
                        purchase.occurred_at + (TICK if at_new else timedelta(0))).id
    # the member as the purchase saw it: its history, counts and limited rules' awards before
    earned = uow.ledger.earn_of(purchase.id)
    facts = member_facts(uow, program, compiled, member_id, purchase.occurred_at,
                         status=profile[0].value, attributes=profile[1], enrolled_at=profile[2],
                         for_update=False, replaying=earned if earned is not None else 0,
                         tier=tier)
    remaining_basket = Basket(
        currency=purchase.currency, occurred_at=purchase.occurred_at, lines=after,
        shipping=0 if everything_back else purchase.shipping, channel=purchase.channel,
        store=purchase.store, promo_codes=tuple(purchase.promo_codes or ()),
        paid_with_points=_share(purchase.paid_with_points, after, lines_total),
        paid_with_gift_cards=_share(purchase.paid_with_gift_cards, after, lines_total))
    evaluation = compiled.evaluate_purchase(remaining_basket, facts) if after else None
    should_hold = min(evaluation.points if evaluation else 0, purchase.points_earned)
    reversed_before = sum(r.points_reversed + r.points_not_reversed for r in previous)
    holds = purchase.points_earned - reversed_before
    to_reverse = max(holds - should_hold, 0)

    return_id = new_id("ret")
    label = f"return {command.external_id} of order {purchase.external_id}"
    policy = compiled.definition.settings.returns.negative_balance
    reversed_points, not_reversed = _reverse(
        uow, program, member_id, purchase, to_reverse, policy, label, occurred_at, now)
    given_back = 0
    if purchase.points_burned and compiled.definition.settings.returns \
            .give_back_burned_points:
        given_back = _give_back(uow, program, member_id, purchase, previous, refunded,
                                lines_total, label, occurred_at, now)
    # The tier measure shrinks with the return (recorded even without a ladder, so that a
    # ladder added later counts right).
    after_return(uow, program, compiled, member_id, enrolled_at=profile[2],
                 occurred_at=occurred_at, now=now, spend=refunded,
                 points=min(to_reverse, purchase.points_earned),
                 purchases=1 if everything_back else 0, reference=purchase.id)
    uow.returns.add(
        id=return_id, program_id=program.id, purchase_id=purchase.id, member_id=member_id,
        external_id=command.external_id, occurred_at=occurred_at, recorded_at=now,
        lines=this_units, amount=refunded, points_reversed=reversed_points,
        points_not_reversed=not_reversed, points_given_back=given_back)
    balance = uow.ledger.balance(member_id)
    if reversed_points or not_reversed or given_back:
        uow.outbox.emit(**points_reversed(
            program_id=program.id, member_id=member_id, occurred_at=occurred_at,
            recorded_at=now, points=reversed_points, not_reversed=not_reversed,
            given_back=given_back, purchase_id=purchase.id, return_id=return_id,
            balance=balance))
    result = ReturnRecorded(
        return_id=return_id, purchase_id=purchase.id, external_id=command.external_id,
        refunded=format_minor(refunded, purchase.currency),
        points_reversed=reversed_points, points_not_reversed=not_reversed,
        points_given_back=given_back, points_remaining=holds - to_reverse,
        available=balance.available, pending=balance.pending, debt=balance.debt,
        remaining_lines={line.sku: line.quantity for line in after})
    remember(uow, program.id, keys, result)
    return Outcome(result)


def _left(original: tuple[PurchaseLine, ...], units: dict[str, int], amount: int,
          total: int) -> tuple[PurchaseLine, ...]:
    if amount:
        return scaled_lines(original, total - amount, total)
    return remaining_lines(original, units)


def _share(paid: int, lines: tuple[PurchaseLine, ...], total: int) -> int:
    """What of a payment stays with the remaining lines, in proportion to their amount."""
    if not paid or not total:
        return 0
    return paid * sum(line.amount for line in lines) // total


def _version_of(uow: Any, purchase: Any) -> int:
    found = uow.programs.version_in_force(purchase.program_id, purchase.occurred_at)
    return found[0] if found else 1


def _reverse(uow: Any, program: Any, member_id: str, purchase: Any, points: int,
             policy: NegativeBalancePolicy, label: str, occurred_at: datetime,
             now: datetime) -> tuple[int, int]:
    """Reverse ``points`` of the purchase: pending first, then available (the purchase's lot,
    then the member's other points, soonest-expiring first); the shortfall per the policy.
    Returns (reversed, not reversed)."""
    if points <= 0:
        return 0, 0
    movements: list[Allocation] = []
    from_pending = 0
    lot = uow.ledger.purchase_lot(purchase.id)
    if lot is not None and lot[1] == "pending":
        from_pending = min(points, lot[2])
        if from_pending:
            movements.append(Allocation(lot[0], from_pending))
    still = points - from_pending
    taken = 0
    if still:
        lots = sorted(uow.ledger.available_lots(member_id), key=fefo_key)
        own = [candidate for candidate in lots if lot is not None and candidate.id == lot[0]]
        for candidate in own + [c for c in lots if not own or c.id != own[0].id]:
            if taken == still:
                break
            take = min(candidate.remaining, still - taken)
            if take:
                movements.append(Allocation(candidate.id, take))
                taken += take
    shortfall = still - taken
    debt = not_reversed = 0
    if shortfall:
        if policy is NegativeBalancePolicy.REFUSE:
            raise ReturnRefused(
                f"the return would reverse {points} points but {shortfall} were already "
                "spent, and this program refuses such returns", available=taken + from_pending,
                required=points)
        if policy is NegativeBalancePolicy.ALLOW:
            debt = shortfall
        else:
            not_reversed = shortfall
    reversed_points = points - not_reversed
    reason = f"reversed {reversed_points}: {label}"
    if debt:
        reason += f" ({debt} already spent: owed, paid by the next earnings)"
    if not_reversed:
        reason += f" ({not_reversed} already spent: not reversed)"
    entry_id = uow.ledger.append(program.id, member_id, NewEntry(
        kind=EntryKind.REVERSE, points=-reversed_points,
        available_delta=-(taken + debt), pending_delta=-from_pending, occurred_at=occurred_at,
        reason=reason, purchase_id=purchase.id), now)
    uow.ledger.take_from_lots(entry_id, movements)
    uow.ledger.apply(member_id, BalanceChange(
        available=-(taken + debt), pending=-from_pending, lifetime_reversed=reversed_points,
        debt=debt), now)
    return reversed_points, not_reversed


def _give_back(uow: Any, program: Any, member_id: str, purchase: Any, previous: list[Any],
               refunded: int, lines_total: int, label: str, occurred_at: datetime,
               now: datetime) -> int:
    """Give back burned points in proportion to what is refunded, into the lots they came
    from; cumulative, so that partial returns add up to exactly what was burned."""
    refunded_so_far = sum(r.amount for r in previous) + refunded
    given_so_far = sum(r.points_given_back for r in previous)
    due = purchase.points_burned * min(refunded_so_far, lines_total) // lines_total
    back = due - given_so_far
    if back <= 0:
        return 0
    burn = uow.ledger.burn_of(purchase.id)
    restored = uow.ledger.restored_for_purchase(purchase.id)
    restorations: list[tuple[int, int]] = []
    left = back
    for lot_id, taken in (uow.ledger.taken_by(burn) if burn else []):
        room = taken - restored.get(lot_id, 0)
        if room > 0 and left:
            put = min(room, left)
            restorations.append((lot_id, put))
            left -= put
    back -= left  # nothing more to give back than was taken
    if back <= 0:
        return 0
    entry_id = uow.ledger.append(program.id, member_id, NewEntry(
        kind=EntryKind.REDEEM, points=back, available_delta=back, pending_delta=0,
        occurred_at=occurred_at, purchase_id=purchase.id,
        reason=f"{back} burned points given back: {label}"), now)
    uow.ledger.put_back(entry_id, restorations)
    uow.ledger.apply(member_id, BalanceChange(available=back, lifetime_redeemed=-back), now)
    return back


serialisable(RecordReturn, ReturnRecorded)
