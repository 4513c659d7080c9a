"""Referrals: each member's code, enrolling with someone's code, reading a member's
referrals, and what a merge does to them (the rules are in ``loyalty.domain.referrals``; the
job that qualifies and completes referrals is ``loyalty.services.referral_jobs``).

Semantics the issue left to us, decided here:

- A code of a merged member still works: it refers to the member it was merged into.
- A closed (or erased) referrer's code is refused at enrolment. A frozen referrer's is
  accepted, and a frozen referrer is rewarded like any earning (frozen members keep earning;
  they cannot spend until unfrozen).
- At completion, a referee whose account was closed gets the referral rejected; a referrer
  closed meanwhile is not rewarded while the referee is (the reason says so).
- Merges: the duplicate's referrals as referrer follow the person. Its own open referral (as
  referee) moves to the survivor unless the survivor already has one (then it is rejected).
  An open referral that now makes someone their own referrer, directly or round a loop, is
  rejected ("self-referral (merged)", "referral loop (merged)"); so is one whose referee turns
  out to have been a member already (the other record enrolled earlier). Completed referrals
  are history: their rewards were given, and they are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.domain import business_events
from loyalty.domain.errors import InvalidRequest, MemberNotFound
from loyalty.domain.members import Identity, MemberStatus, new_id
from loyalty.domain.referrals import (
    ALREADY_A_MEMBER,
    ALREADY_REFERRED,
    LOOP_MERGED,
    OPEN,
    SELF_REFERRAL_MERGED,
    ReferralStatus,
    new_referral_code,
    normalise_referral_code,
    shared_identity,
)
from loyalty.rules.program import Program
from loyalty.services.context import Context
from loyalty.services.keyset import decode_cursor, encode_cursor

_MERGE_DEPTH = 10_000  # referral chains longer than this are not walked for loops


# -- codes and enrolment ------------------------------------------------------------------------


def give_code(uow: Any, program_id: str, member_id: str, now: datetime) -> str:
    """The member's referral code, made now if the member has none."""
    for _ in range(20):  # a clash of random codes is rare; twenty in a row, impossible
        if uow.referrals.add_code(program_id, member_id, new_referral_code(), now):
            break
        if uow.referrals.code_of(member_id) is not None:
            break
    code = uow.referrals.code_of(member_id)
    if code is None:
        raise RuntimeError("no free referral code was found")
    return str(code)


@dataclass(frozen=True)
class Referrer:
    member_id: str
    code: str


def referrer_for_enrolment(
    uow: Any, program: Program, code: str | None, identities: tuple[Identity, ...], now: datetime
) -> Referrer | None:
    """The referrer named by the code a new member enrols with; ``InvalidRequest`` naming
    ``referral_code`` when the code names no one who may refer this person."""
    if code is None:
        return None
    settings = uow.programs.compiled_at(program, now).definition.settings.referrals
    if not settings.enabled:
        raise InvalidRequest("this program takes no referrals", field="referral_code")
    normalised = normalise_referral_code(code)
    owner = uow.referrals.owner_of(program.id, normalised)
    if owner is None:
        raise InvalidRequest(
            "no member of this program has this referral code", field="referral_code"
        )
    referrer_id = _person(uow, program.id, owner)
    state = uow.referrals.member_state(program.id, referrer_id)
    if state is None or state.status == MemberStatus.CLOSED.value:
        raise InvalidRequest(
            "the member who owns this referral code can no longer refer anyone",
            field="referral_code",
        )
    referrer = uow.members.get(program.id, referrer_id)
    if shared_identity(identities, referrer.identities) is not None:
        raise InvalidRequest(
            "no one refers themselves: an identity of this enrolment is also the referrer's",
            field="referral_code",
        )
    return Referrer(referrer_id, normalised)


def start_referrals(
    uow: Any, program: Program, member_id: str, referrer: Referrer | None, now: datetime
) -> None:
    """At enrolment: the new member's own code, and the referral if a code was given."""
    give_code(uow, program.id, member_id, now)
    if referrer is None:
        return
    referral_id = new_id("ref")
    uow.referrals.add(
        id=referral_id,
        program_id=program.id,
        referrer_id=referrer.member_id,
        referee_id=member_id,
        code=referrer.code,
        status=ReferralStatus.PENDING.value,
        reason=None,
        referred_at=now,
    )
    uow.outbox.emit(
        program_id=program.id,
        member_id=member_id,
        type=business_events.REFERRAL_STARTED,
        occurred_at=now,
        recorded_at=now,
        payload={"referral": referral_id, "referrer": referrer.member_id, "referee": member_id},
    )


def _person(uow: Any, program_id: str, member_id: str) -> str:
    """The member a (possibly merged) member's record now belongs to."""
    for _ in range(100):
        state = uow.referrals.member_state(program_id, member_id)
        if state is None or state.merged_into is None:
            return member_id
        member_id = state.merged_into
    return member_id


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralView:
    referral_id: str
    referrer_id: str
    referee_id: str
    code: str
    status: str
    reason: str | None
    referred_at: datetime
    purchase_id: str | None
    clears_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class MemberReferrals:
    member_id: str
    code: str | None  # to hand out; none for a closed member who never had one
    referred_by: ReferralView | None  # the member's own referral, as referee
    referrals: tuple[ReferralView, ...]  # as referrer, newest first
    next_cursor: str | None


def _view(row: Any) -> ReferralView:
    return ReferralView(
        row.id,
        row.referrer_id,
        row.referee_id,
        row.code,
        row.status,
        row.reason,
        row.referred_at,
        row.purchase_id,
        row.clears_at,
        row.completed_at,
    )


def member_referrals(
    ctx: Context, program_id: str, member_id: str, *, limit: int, cursor: str | None = None
) -> MemberReferrals:
    """The member's code (made now for members enrolled before referrals existed), the
    member's own referral, and a page of the referrals the member made."""
    before = decode_cursor(cursor) if cursor is not None else None
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        state = uow.referrals.member_state(program_id, member_id)
        if state is None:
            raise MemberNotFound(f"there is no member {member_id!r} in this program")
        code = uow.referrals.code_of(member_id)
        own = uow.referrals.of_referee(member_id)
        referred_by = _view(own) if own is not None else None
        made = [
            _view(row)
            for row in uow.referrals.by_referrer(member_id, before=before, limit=limit + 1)
        ]
    if code is None and state.status != MemberStatus.CLOSED.value:
        with ctx.uow() as uow:
            code = give_code(uow, program_id, member_id, ctx.clock.now())
            uow.commit()
    more = len(made) > limit
    made = made[:limit]
    return MemberReferrals(
        member_id,
        code,
        referred_by,
        tuple(made),
        encode_cursor(made[-1].referred_at, made[-1].referral_id) if more else None,
    )


# -- merges ---------------------------------------------------------------------------------------


def after_merge(
    uow: Any, program: Program, survivor_id: str, merged_id: str, now: datetime
) -> None:
    """Referrals follow a merge into the survivor, in the merge's transaction; those the merge
    shows to be dishonest are rejected (see the module's docstring)."""
    uow.referrals.move_referrer(merged_id, survivor_id)
    theirs = uow.referrals.of_referee(merged_id)
    if theirs is not None and theirs.status in OPEN:
        if theirs.referrer_id == survivor_id:
            reject(uow, program, theirs, SELF_REFERRAL_MERGED, now)
        elif uow.referrals.of_referee(survivor_id) is not None:
            reject(uow, program, theirs, ALREADY_REFERRED, now)
        else:
            uow.referrals.set(theirs.id, referee_id=survivor_id)
    _reject_loop(uow, program, survivor_id, now)
    ours = uow.referrals.of_referee(survivor_id)
    if ours is not None and ours.status in OPEN:
        enrolled = [
            uow.referrals.member_state(program.id, member).enrolled_at
            for member in (survivor_id, merged_id)
        ]
        if min(enrolled) < ours.referred_at:
            reject(uow, program, ours, ALREADY_A_MEMBER, now)


def _reject_loop(uow: Any, program: Program, survivor_id: str, now: datetime) -> None:
    """Walk up the survivor's referrers; coming back to the survivor is a loop (of one: a
    self-referral), and its open referrals are rejected. A merge is the only way to close a
    loop, so any loop passes through the survivor."""
    chain = []
    member_id = survivor_id
    for _ in range(_MERGE_DEPTH):
        referral = uow.referrals.of_referee(member_id)
        if referral is None or referral.status == ReferralStatus.REJECTED.value:
            return
        chain.append(referral)
        member_id = referral.referrer_id
        if member_id == survivor_id:
            reason = SELF_REFERRAL_MERGED if len(chain) == 1 else LOOP_MERGED
            for link in chain:
                if link.status in OPEN:
                    reject(uow, program, link, reason, now)
            return


def reject(uow: Any, program: Program, referral: Any, reason: str, now: datetime) -> None:
    """Reject an open referral for good, with the reason, and tell the outbox."""
    uow.referrals.set(referral.id, status=ReferralStatus.REJECTED.value, reason=reason)
    uow.outbox.emit(
        program_id=program.id,
        member_id=referral.referee_id,
        type=business_events.REFERRAL_REJECTED,
        occurred_at=now,
        recorded_at=now,
        payload={
            "referral": referral.id,
            "referrer": referral.referrer_id,
            "referee": referral.referee_id,
            "reason": reason,
        },
    )
