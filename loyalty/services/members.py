"""Enrolling members and finding them by id or by any of their identities."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from loyalty.domain.errors import InvalidRequest, MemberNotFound
from loyalty.domain.members import Identity, Member, MemberStatus, new_id
from loyalty.services.context import Context
from loyalty.services.idempotency import IdempotencyKey, Outcome, claim, remember, serialisable
from loyalty.services.referrals import referrer_for_enrolment, start_referrals


@dataclass(frozen=True)
class MemberRef:
    """A member named by id or by one identity (``card:1234``): checkouts often only have a card."""

    member_id: str | None = None
    identity: Identity | None = None

    def __post_init__(self) -> None:
        if (self.member_id is None) == (self.identity is None):
            raise InvalidRequest("name the member by id or by identity, not both", field="member")


@dataclass(frozen=True)
class EnrollMember:
    program_id: str
    identities: tuple[Identity, ...]
    attributes: dict[str, Any] = field(default_factory=dict)
    request_key: IdempotencyKey | None = None
    referral_code: str | None = None  # the code of the member who referred this one


def enroll_member(ctx: Context, command: EnrollMember) -> Outcome[Member]:
    """Create a member with its identities and an empty ledger, in one transaction."""
    kinds = [identity.kind for identity in command.identities]
    if len(set(command.identities)) != len(command.identities):
        raise InvalidRequest("the same identity is listed twice", field="identities")
    if not kinds:
        raise InvalidRequest("a member needs at least one identity", field="identities")
    attributes = dict(command.attributes)
    birth_date = attributes.get("birth_date")
    if birth_date is not None:
        try:
            # stored as YYYY-MM-DD, the one form the birthday job and notices read
            attributes["birth_date"] = date.fromisoformat(str(birth_date)).isoformat()
        except ValueError:
            raise InvalidRequest(
                "birth_date is a date such as 1990-04-23", field="attributes.birth_date"
            ) from None
    with ctx.uow() as uow:
        program = uow.programs.get(command.program_id)
        now = ctx.clock.now()
        keys, replay = claim(uow, program.id, None, command.request_key, Member,
                             now)
        if replay is not None:
            return replay
        member = Member(
            id=new_id("mem"),
            program_id=program.id,
            status=MemberStatus.ACTIVE,
            enrolled_at=now,
            attributes=attributes,
            identities=command.identities,
        )
        referrer = referrer_for_enrolment(uow, program, command.referral_code,
                                          command.identities, now)
        uow.members.add(member, now)
        start_referrals(uow, program, member.id, referrer, now)
        remember(uow, program.id, keys, member)
        uow.commit()
    return Outcome(member)


def get_member(ctx: Context, program_id: str, member_id: str) -> Member:
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        member = uow.members.get(program_id, member_id)
    if member is None:
        raise MemberNotFound(f"there is no member {member_id!r} in this program")
    return member


def find_member(ctx: Context, program_id: str, identity: Identity) -> Member:
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        member_id = uow.members.find_id_by_identity(program_id, identity)
        member = uow.members.get(program_id, member_id) if member_id else None
    if member is None:
        raise MemberNotFound(f"no member of this program has the identity {identity}")
    return member


def resolve_member_id(uow: Any, program_id: str, ref: MemberRef) -> str:
    """The id of the member ``ref`` names, in this program, or ``MemberNotFound``."""
    if ref.identity is not None:
        member_id = uow.members.find_id_by_identity(program_id, ref.identity)
        if member_id is None:
            raise MemberNotFound(
                f"no member of this program has the identity {ref.identity}", field="member"
            )
        return member_id
    assert ref.member_id is not None
    return ref.member_id


serialisable(Member)
