"""Referrals: a member brings a friend, and both are rewarded once the friend has bought.

Every member has a short code, unique in the program, to hand out. A friend who enrols with it
becomes the *referee* of the code's owner, the *referrer*: the referral is ``pending``. The
referee's first purchase whose earn base reaches the program's minimum makes it ``qualified``
until that purchase clears its return window; then it is ``completed`` and a
``referral_completed`` event (property ``role``: ``referrer`` or ``referee``) lets the rules
reward each of them. A purchase returned in full meanwhile sends the referral back to
``pending``, for a later purchase to qualify.

Honesty rules, with the reason of every refusal recorded on the referral: no one refers
themselves (the same identity value, whatever its kind, or the same person merged later), no
referral loops, no referral of someone who was already a member, and no more rewarded
referrals per referrer and period than the program's cap (beyond it a referral still completes
for the referee, unrewarded for the referrer).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from loyalty.domain.members import Identity
from loyalty.domain.money import currency_exponent
from loyalty.domain.rewards import normalise_code
from loyalty.domain.time import utc

# The voucher codes' alphabet: no 0/O, 1/I/L, U/V, so a code read aloud or retyped still works.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
CODE_LENGTH = 8  # 29**8: 5 x 10**11 codes, shown as two groups of four (K7QD-3MXR)


class ReferralStatus(StrEnum):
    PENDING = "pending"  # waiting for the referee's first qualifying purchase
    QUALIFIED = "qualified"  # that purchase is waiting for its return window to close
    COMPLETED = "completed"  # the events fired (the referrer's unless the reason says not)
    REJECTED = "rejected"  # never rewarded; the reason says why


OPEN = (ReferralStatus.PENDING, ReferralStatus.QUALIFIED)

# Reasons, as recorded on referrals.
SELF_REFERRAL_MERGED = "self-referral (merged)"
LOOP_MERGED = "referral loop (merged)"
ALREADY_A_MEMBER = "the referee was already a member (merged with an earlier record)"
ALREADY_REFERRED = "the referee already had a referral (merged)"
REFEREE_CLOSED = "the referee's account was closed"
REFERRER_CLOSED = "the referrer's account is closed: the referrer is not rewarded"


def cap_reached(cap: int, period: str) -> str:
    per = "in all" if period == "lifetime" else f"a {period}"
    return (
        f"the referrer's cap of {cap} rewarded referrals {per} is reached: the referrer "
        "is not rewarded"
    )


def returned(purchase_id: str) -> str:
    return f"purchase {purchase_id} was returned; waiting for another qualifying purchase"


def new_referral_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return normalise_referral_code(raw)


def normalise_referral_code(text: str) -> str:
    """A typed code in its stored form: upper case, grouped by four (``k7qd 3mxr`` works)."""
    return normalise_code(text)


def _comparable(value: str) -> str:
    """An identity value with the decorations people vary stripped, whatever its kind: so a
    phone number typed as a customer id, or an e-mail in another case, still compares equal."""
    text = "".join(c for c in value.lower() if not c.isspace() and c not in "-()")
    return text.removeprefix("+")


def shared_identity(referee: Iterable[Identity], referrer: Iterable[Identity]) -> Identity | None:
    """The referee's identity whose value is also one of the referrer's (in any kind), if any:
    a person referring themselves under a second record."""
    theirs = {_comparable(identity.value) for identity in referrer}
    return next((identity for identity in referee if _comparable(identity.value) in theirs), None)


def minimum_minor(amount: Decimal, currency: str) -> int:
    """The program's minimum purchase in minor units of its currency; a minimum finer than the
    currency's minor unit rounds up (a minimum is never lowered)."""
    return int(
        (amount * (Decimal(10) ** currency_exponent(currency))).to_integral_value(
            rounding=ROUND_CEILING
        )
    )


def still_qualifies(earn_base: int, total: int, refunded: int, minimum: int) -> bool:
    """Whether a purchase still qualifies after its returns: something is left, and its earn
    base, reduced in proportion to what was refunded, still reaches the minimum."""
    left = total - refunded
    return left > 0 and earn_base * left >= minimum * total


def clears_at(occurred_at: datetime, clear_after_days: int | None, pending_days: int) -> datetime:
    """When a qualifying purchase has cleared its return window: ``clear_after_days`` after
    it, or the program's pending-points days when the referral settings name none."""
    days = pending_days if clear_after_days is None else clear_after_days
    return utc(occurred_at) + timedelta(days=days)
