"""The pure parts of surveys and referrals: scales, codes, self-referral by identity, the minimum
purchase in minor units, what a return leaves, and when a purchase clears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty.domain.errors import InvalidRequest
from loyalty.domain.feedback import SurveyKind, check_answer
from loyalty.domain.members import Identity
from loyalty.domain.referrals import (
    CODE_ALPHABET,
    cap_reached,
    clears_at,
    minimum_minor,
    new_referral_code,
    normalise_referral_code,
    shared_identity,
    still_qualifies,
)


@pytest.mark.parametrize(
    ("kind", "scores", "wrong"),
    [
        ("nps", range(0, 11), (-1, 11)),
        ("csat", range(1, 6), (0, 6)),
        ("ces", range(1, 8), (0, 8)),
    ],
)
def test_each_survey_kind_has_its_own_scale(kind, scores, wrong):
    assert all(check_answer(kind, score, "email") is SurveyKind(kind) for score in scores)
    for score in wrong:
        with pytest.raises(InvalidRequest) as refused:
            check_answer(kind, score, "email")
        assert refused.value.field == "score"


def test_a_score_is_a_whole_number_not_a_boolean_and_the_kind_and_channel_are_checked():
    with pytest.raises(InvalidRequest) as refused:
        check_answer("nps", True, "email")  # type: ignore[arg-type]
    assert refused.value.field == "score"
    with pytest.raises(InvalidRequest) as refused:
        check_answer("stars", 5, "email")
    assert refused.value.field == "kind"
    with pytest.raises(InvalidRequest) as refused:
        check_answer("nps", 5, "")
    assert refused.value.field == "channel"


def test_referral_codes_are_short_grouped_and_free_of_look_alikes():
    codes = {new_referral_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        first, second = code.split("-")
        assert len(first) == len(second) == 4
        assert set(first + second) <= set(CODE_ALPHABET)


def test_a_code_typed_in_lower_case_with_spaces_is_the_same_code():
    assert normalise_referral_code(" k7qd 3mxr ") == "K7QD-3MXR"
    assert normalise_referral_code("K7QD-3MXR") == "K7QD-3MXR"


@pytest.mark.parametrize(
    ("referee", "shared"),
    [
        (["email:ADA@example.com"], "email:ada@example.com"),
        (["customer_id:ada@example.com"], "customer_id:ada@example.com"),
        (["card:0612345678"], "card:0612345678"),
        (["customer_id:(06) 12-34-56-78"], "customer_id:(06) 12-34-56-78"),
        (["email:bob@example.com", "phone:0612345678"], "phone:0612345678"),
        (["email:bob@example.com", "card:4000 1234"], None),
    ],
)
def test_a_referee_sharing_any_identity_value_with_the_referrer_is_the_same_person(referee, shared):
    referrer = [Identity.parse("email:ada@example.com"), Identity.parse("phone:+0612345678")]
    found = shared_identity([Identity.parse(text) for text in referee], referrer)
    assert (str(found) if found else None) == (str(Identity.parse(shared)) if shared else None)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("20.00", "EUR", 2000),
        ("20", "EUR", 2000),
        ("1000", "JPY", 1000),
        ("1.5", "KWD", 1500),
        ("0.005", "EUR", 1),  # finer than a cent: rounded up, never down
        ("0", "EUR", 0),
    ],
)
def test_the_minimum_purchase_is_compared_in_minor_units_of_the_programs_currency(
    amount, currency, minor
):
    assert minimum_minor(Decimal(amount), currency) == minor


def test_a_returned_purchase_qualifies_while_what_is_left_earns_on_the_minimum():
    assert still_qualifies(earn_base=5000, total=5000, refunded=0, minimum=2000)
    assert still_qualifies(earn_base=5000, total=5000, refunded=3000, minimum=2000)
    assert not still_qualifies(earn_base=5000, total=5000, refunded=3001, minimum=2000)
    assert not still_qualifies(earn_base=5000, total=5000, refunded=5000, minimum=0)
    # the earn base (net of tax) shrinks in proportion to the refund of the total
    assert still_qualifies(earn_base=4000, total=4800, refunded=2400, minimum=2000)
    assert not still_qualifies(earn_base=4000, total=4800, refunded=2401, minimum=2000)


def test_a_purchase_clears_after_the_referral_days_or_else_the_pending_days():
    bought = datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert clears_at(bought, 14, 30) == bought + timedelta(days=14)
    assert clears_at(bought, None, 30) == bought + timedelta(days=30)
    assert clears_at(bought, None, 0) == bought


def test_the_cap_reason_names_the_cap_and_its_period():
    assert cap_reached(10, "year") == (
        "the referrer's cap of 10 rewarded referrals a year is "
        "reached: the referrer is not rewarded"
    )
    assert "3 rewarded referrals in all" in cap_reached(3, "lifetime")
