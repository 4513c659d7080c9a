"""Loading generated data into a program: members in bulk, the purchase stream, its returns,
and redemptions (``loyalty demo generate``).

Members are written by multi-row inserts, the same rows ``enroll_member`` writes (the member,
its card and e-mail identities, an empty summary row, its referral code), so the ledger
verifies. Their ids and
identities come from the seed: enrolling the same seed again adds nothing, and another seed
never collides with them. Purchases and returns go through the bulk importer
(``import_purchases``) in the stream's time order, as commands built directly from it (no
schema). Redemptions come last, at the current time, once the pending job has
released what the return window held: catalogue rewards, when the program has any, and points
burned at the till on a new purchase.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from loyalty.domain.errors import IdentityAlreadyUsed, InvalidRequest, LoyaltyError
from loyalty.domain.members import MemberStatus
from loyalty.domain.money import currency_exponent
from loyalty.domain.referrals import CODE_ALPHABET, CODE_LENGTH, normalise_referral_code
from loyalty.domain.time import utc
from loyalty.rules.program import Program
from loyalty.services.context import Context
from loyalty.services.generator import (
    MAX_SEED,
    STORES,
    Generated,
    GeneratedPurchase,
    GeneratorConfig,
    Shop,
    card_number,
    email,
    external_id,
    generate,
    member_ids,
    profiles,
    purchase_command,
    purchase_lines,
    return_command,
    seeded_random,
)
from loyalty.services.imports import ImportReport, ImportReturn, import_purchases
from loyalty.services.jobs import release_pending
from loyalty.services.members import MemberRef
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from loyalty.services.purchases import RecordPurchase, record_purchase
from loyalty.services.rewards import Redeem, redeem

MAX_MEMBERS = 10_000_000
ENROLMENT_SPREAD = timedelta(days=730)  # members joined in the two years before the period


# -- the program ----------------------------------------------------------------------------------


def ensure_program(
    ctx: Context,
    program_id: str,
    name: str,
    currency: str,
    time_zone: str,
    document: dict[str, Any],
    actor: str,
) -> tuple[Program, bool]:
    """The program ``program_id``, created from ``document`` if there is none (and then
    whether it was created). A definition with more than settings, rules and tiers (rewards,
    segments...) is published as version 2 right away: creation takes only those three."""
    with ctx.uow(read_only=True) as uow:
        if uow.programs.exists(program_id):
            return uow.programs.get(program_id), False
    program = create_program(
        ctx,
        CreateProgram(
            program_id,
            name,
            currency,
            time_zone,
            document.get("settings") or {},
            document.get("rules"),
            document.get("tiers"),
        ),
        actor=actor,
    )
    if set(document) - {"settings", "rules", "tiers"}:
        save_draft(ctx, program_id, document, actor)
        publish(ctx, program_id, actor)
    return program, True


# -- members ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MembersEnrolled:
    enrolled: int  # members written now
    already: int  # members of this seed found already enrolled


def enroll_members_bulk(
    ctx: Context,
    program_id: str,
    count: int,
    seed: int,
    *,
    enrolled_before: datetime | None = None,
    batch_size: int = 5000,
    on_batch: Callable[[int], None] | None = None,
) -> MembersEnrolled:
    """Enrol the ``count`` generated members of ``seed`` in one transaction, by batches of
    multi-row inserts of the rows ``enroll_member`` writes (referral code included). Member
    ``i`` has the card ``card_number(seed, i)`` and the e-mail ``email(seed, i)``, a birth
    date (most of them) and the VIP flag (a few); they joined in the two years before
    ``enrolled_before`` (default: now). Members of this seed already there are kept as they
    are; an identity of theirs held by another member is an ``IdentityAlreadyUsed`` error, and
    then nothing is written. ``on_batch`` hears how many members are done."""
    if not 0 <= count <= MAX_MEMBERS:
        raise InvalidRequest(f"enrol 0 to {MAX_MEMBERS} members", field="members")
    if not 0 <= seed <= MAX_SEED:
        raise InvalidRequest(f"a seed is between 0 and {MAX_SEED}", field="seed")
    ids = member_ids(program_id, seed, count)
    attributes = profiles(program_id, seed, count)
    joined = seeded_random(seed, program_id, "enrolment")
    spread = int(ENROLMENT_SPREAD.total_seconds())
    referral_code = _referral_codes()
    enrolled = already = 0
    with ctx.uow() as uow:
        program = uow.programs.get(program_id)
        now = ctx.clock.now()
        latest = utc(enrolled_before) if enrolled_before is not None else now
        _check_identities_free(uow, program.id, seed, ids)
        for start in range(0, count, batch_size):
            indexes = range(start, min(start + batch_size, count))
            members = [
                {
                    "id": ids[index],
                    "program_id": program.id,
                    "status": MemberStatus.ACTIVE.value,
                    "status_reason": None,
                    "attributes": next(attributes),
                    "enrolled_at": latest - timedelta(seconds=joined.randrange(spread)),
                }
                for index in indexes
            ]
            new = uow.demo_data.add_members(members)
            identities, balances = [], []
            for index in indexes:
                if (member_id := ids[index]) not in new:
                    continue  # enrolled by an earlier run: kept as it is
                for kind, value in (
                    ("card", card_number(seed, index)),
                    ("email", email(seed, index)),
                ):
                    identities.append(
                        {
                            "program_id": program.id,
                            "member_id": member_id,
                            "kind": kind,
                            "value": value,
                        }
                    )
                balances.append(
                    {"member_id": member_id, "program_id": program.id, "updated_at": now}
                )
            uow.demo_data.add_identities_and_balances(identities, balances)
            codes = {member_id: referral_code() for member_id in new}
            for _ in range(20):  # a clash of random codes is rare; twenty in a row, impossible
                taken = uow.demo_data.add_referral_codes(program.id, codes, now)
                if not (codes := {member_id: referral_code() for member_id in taken}):
                    break
            else:
                raise RuntimeError("no free referral code was found")
            enrolled += len(new)
            already += len(indexes) - len(new)
            if on_batch is not None:
                on_batch(enrolled + already)
        uow.commit()
    return MembersEnrolled(enrolled, already)


def _check_identities_free(uow: Any, program_id: str, seed: int, ids: list[str]) -> None:
    """``IdentityAlreadyUsed`` if a card or e-mail of the generated members is held by a
    member other than the one generated with it (read in one pass per kind)."""
    card_prefix, email_suffix = card_number(seed, 0)[:-9], email(seed, 0)[2:]
    for kind, pattern in (("card", card_prefix + "_" * 9), ("email", f"m%{email_suffix}")):
        for value, owner in uow.demo_data.identities_like(program_id, kind, pattern):
            digits = value[len(card_prefix) :] if kind == "card" else value[1 : -len(email_suffix)]
            if not digits.isdigit() or not int(digits) < len(ids):
                continue
            index = int(digits)
            mine = card_number(seed, index) if kind == "card" else email(seed, index)
            if value == mine and owner != ids[index]:
                raise IdentityAlreadyUsed(
                    f"{kind}:{value} already belongs to another member of this program; "
                    "generate with another seed",
                    field="seed",
                    identity=f"{kind}:{value}",
                )


def _referral_codes() -> Callable[[], str]:
    """Referral codes as ``new_referral_code`` makes them, a hundred thousand a second: from a
    generator seeded by the system's randomness (not by the data set's seed), where
    ``new_referral_code`` asks the system for every character."""
    choices = random.Random(secrets.randbits(128)).choices
    return lambda: normalise_referral_code("".join(choices(CODE_ALPHABET, k=CODE_LENGTH)))


# -- purchases and returns --------------------------------------------------------------------


def already_generated(ctx: Context, program_id: str, seed: int) -> bool:
    """Whether the purchases of ``seed`` are already in the program (their times came from
    another run's clock: loading them again would conflict with the first ones)."""
    with ctx.uow(read_only=True) as uow:
        return uow.demo_data.has_purchases_numbered(program_id, external_id(seed, 0)[:-9])


def load_generated(
    ctx: Context,
    config: GeneratorConfig,
    *,
    batch_size: int = 1000,
    items: Iterable[Generated] | None = None,
    on_batch: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Record the stream of ``config`` (or ``items``) through the bulk importer, purchases and
    returns in their time order, as commands built directly (no schema); each item's line is
    its position in the stream. ``on_batch`` hears the importer's report after each batch."""
    source = items if items is not None else generate(config)

    def rows() -> Iterator[tuple[int, RecordPurchase | ImportReturn]]:
        program_id, currency = config.program_id, config.currency
        for position, item in enumerate(source, start=1):
            if isinstance(item, GeneratedPurchase):
                yield position, purchase_command(program_id, currency, item)
            else:
                yield position, return_command(program_id, currency, item)

    return import_purchases(ctx, rows(), batch_size=batch_size, on_batch=on_batch)


# -- redemptions ------------------------------------------------------------------------------

BURN_FROM = 500  # points a member needs before paying with points at the till


@dataclass
class RedemptionReport:
    released: int = 0  # points the pending job made available first
    rewards: int = 0  # catalogue rewards redeemed
    burns: int = 0  # till purchases paid partly with points
    points: int = 0  # points spent by both
    refused: int = 0
    problems: list[str] = field(default_factory=list)


def redeem_generated(
    ctx: Context,
    config: GeneratorConfig,
    count: int,
    *,
    on_redemption: Callable[[int], None] | None = None,
) -> RedemptionReport:
    """Up to ``count`` redemptions, now, by members drawn (by the seed) among those with
    points to spend: a catalogue reward they can afford (when the program has rewards, six
    times in ten), else part of a new till purchase paid with points. The pending job runs
    first, for every program, as its schedule would have: the stream's points still wait for
    their return window otherwise."""
    report = RedemptionReport(released=release_pending(ctx).points if count else 0)
    if count <= 0:
        return report
    now = ctx.clock.now()
    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(config.program_id)
        definition = uow.programs.compiled_at(program, now).definition
        rewards = sorted(definition.rewards, key=lambda reward: (reward.cost, reward.id))
        floor = min([BURN_FROM, *(reward.cost for reward in rewards)])
        candidates = uow.demo_data.members_with_points(program.id, floor)
    rng = seeded_random(config.seed, config.program_id, "redemptions")
    rng.shuffle(candidates)
    redemption = definition.settings.redemption
    point_minor = redemption.point_value * Decimal(10) ** currency_exponent(program.currency)
    shop = Shop(program.currency)
    stores = [name for name, _ in STORES]
    for number, (member_id, available) in enumerate(candidates[:count], start=1):
        reference = f"G{config.seed}-X{number:06d}"
        affordable = [reward for reward in rewards if reward.cost <= available]
        try:
            if affordable and (available < BURN_FROM or rng.random() < 0.6):
                reward = affordable[int(rng.random() * len(affordable))]
                redeem(ctx, Redeem(program.id, member_id, reward.id, reference))
                report.rewards += 1
                report.points += reward.cost
            else:
                lines = shop.lines(rng, 1 + int(rng.random() * 3), now.month, sale=False)
                total = sum(line.quantity * line.unit_price - line.discount for line in lines)
                ceiling = (Decimal(total) * redemption.max_basket_share).to_integral_value(
                    rounding=ROUND_FLOOR
                )
                most = min(available, int(ceiling / point_minor))
                points = int(most * rng.uniform(0.3, 1.0)) // redemption.step * redemption.step
                if points <= 0 or points < redemption.minimum:
                    report.refused += 1
                    report.problems.append(
                        f"{member_id}: the basket is too small to pay with points"
                    )
                    continue
                record_purchase(
                    ctx,
                    RecordPurchase(
                        program_id=program.id,
                        member=MemberRef(member_id=member_id),
                        external_id=reference,
                        occurred_at=now - timedelta(seconds=count - number),
                        currency=program.currency,
                        lines=purchase_lines(lines),
                        source="tills",
                        channel="pos",
                        store=stores[int(rng.random() * len(stores))],
                        points_to_burn=points,
                    ),
                )
                report.burns += 1
                report.points += points
        except LoyaltyError as error:
            report.refused += 1
            report.problems.append(f"{member_id}: {error.detail}")
        if on_redemption is not None:
            on_redemption(number)
    return report
