"""Identities by which every channel finds a member, and the members' public ids."""

import re

import pytest

from loyalty.domain.errors import InvalidIdentity, InvalidRequest
from loyalty.domain.members import Identity, IdentityKind, new_id

CROCKFORD = set("0123456789abcdefghjkmnpqrstvwxyz")


@pytest.mark.parametrize(
    ("kind", "typed", "stored"),
    [
        ("email", "ada@example.com", "ada@example.com"),
        ("email", "  Ada.Lovelace@Example.COM \n", "ada.lovelace@example.com"),
        ("phone", "+33 6 12 34 56 78", "+33612345678"),
        ("phone", "+1 (555) 123-4567", "+15551234567"),
        ("phone", "06-12-34-56-78", "0612345678"),
        ("phone", " 06.12.34.56.78 ", "0612345678"),
        ("card", "4000 1234-5678 9010", "4000123456789010"),
        ("card", " ab-cd-12-34 ", "ABCD1234"),
        ("customer_id", "  crm-000042  ", "crm-000042"),
        ("customer_id", "Case Matters", "Case Matters"),
    ],
)
def test_an_identity_is_stored_in_its_normal_form(kind, typed, stored):
    identity = Identity.of(kind, typed)

    assert identity.kind is IdentityKind(kind)
    assert identity.value == stored


def test_two_spellings_of_one_email_are_one_identity():
    assert Identity.of("email", "Ada@Example.com ") == Identity.of("email", "ada@example.com")


def test_a_phone_number_keeps_its_leading_plus():
    assert Identity.of("phone", "+44 20 7946 0958").value.startswith("+44")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("email", ""),
        ("email", "ada"),
        ("email", "ada@example"),
        ("email", "@example.com"),
        ("email", "ada@@example.com"),
        ("email", "ada lovelace@example.com"),
        ("phone", ""),
        ("phone", "12345"),
        ("phone", "+1234567890123456"),
        ("phone", "33+612345678"),
        ("phone", "++33612345678"),
        ("phone", "06 12 34 56 7A"),
        ("phone", "+33/612345678"),
        ("card", ""),
        ("card", "123"),
        ("card", "1234#5678"),
        ("card", "1234_5678"),
        ("card", "X" * 33),
        ("customer_id", ""),
        ("customer_id", "   "),
        ("customer_id", "c" * 129),
    ],
)
def test_a_value_that_cannot_be_of_its_kind_is_an_invalid_identity(kind, value):
    with pytest.raises(InvalidIdentity) as raised:
        Identity.of(kind, value)

    assert raised.value.field == "value"
    assert raised.value.code == "invalid-identity"


@pytest.mark.parametrize(
    ("kind", "value"),
    [("phone", "123456"), ("phone", "+123456789012345"), ("card", "1234"), ("card", "9" * 32)],
)
def test_values_at_the_length_limits_are_accepted(kind, value):
    assert Identity.of(kind, value).value == value


def test_a_customer_id_may_have_up_to_128_characters():
    assert Identity.of("customer_id", "c" * 128).value == "c" * 128


@pytest.mark.parametrize("kind", ["loyalty_number", "EMAIL", "Email", "", " email"])
def test_an_unknown_kind_is_an_invalid_identity_about_the_kind(kind):
    with pytest.raises(InvalidIdentity) as raised:
        Identity.of(kind, "ada@example.com")

    assert raised.value.field == "kind"
    assert "customer_id, card, email, phone" in raised.value.detail


def test_an_invalid_identity_is_an_invalid_request():
    with pytest.raises(InvalidRequest):
        Identity.of("email", "not-an-address")


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("card:1234 5678", IdentityKind.CARD, "12345678"),
        ("email: Ada@Example.com", IdentityKind.EMAIL, "ada@example.com"),
        ("phone:+33 6 12 34 56 78", IdentityKind.PHONE, "+33612345678"),
        ("customer_id:crm:42", IdentityKind.CUSTOMER_ID, "crm:42"),
    ],
)
def test_an_identity_is_parsed_from_kind_colon_value(text, kind, value):
    assert Identity.parse(text) == Identity(kind, value)


@pytest.mark.parametrize("text", ["ada@example.com", "", "card 1234"])
def test_an_identity_without_a_colon_is_refused_as_a_whole(text):
    with pytest.raises(InvalidIdentity) as raised:
        Identity.parse(text)

    assert raised.value.field == "identity"
    assert "kind:value" in raised.value.detail


def test_parsing_an_unknown_kind_points_at_the_kind():
    with pytest.raises(InvalidIdentity) as raised:
        Identity.parse("twitter:@ada")

    assert raised.value.field == "kind"


def test_parsing_a_bad_value_points_at_the_value():
    with pytest.raises(InvalidIdentity) as raised:
        Identity.parse("card:12")

    assert raised.value.field == "value"


def test_an_identity_writes_itself_back_as_kind_colon_value():
    identity = Identity.of("email", " Ada@Example.com")

    assert str(identity) == "email:ada@example.com"
    assert Identity.parse(str(identity)) == identity


def test_a_new_id_starts_with_its_prefix_and_has_26_crockford_characters():
    member_id = new_id("mem")

    prefix, underscore, body = member_id.partition("_")
    assert (prefix, underscore) == ("mem", "_")
    assert len(body) == 26
    assert set(body) <= CROCKFORD
    assert re.fullmatch(r"mem_[0-9a-hjkmnp-tv-z]{26}", member_id)


def test_a_new_id_never_uses_the_ambiguous_letters_i_l_o_u():
    bodies = "".join(new_id("mem").partition("_")[2] for _ in range(200))

    assert not set(bodies) & set("ilouILOU")


def test_a_thousand_new_ids_are_all_different():
    ids = [new_id("mem") for _ in range(1000)]

    assert len(set(ids)) == 1000


def test_new_ids_use_the_whole_alphabet():
    # 1000 ids draw 26 000 characters; missing any of the 32 would mean a biased encoding.
    used = set("".join(new_id("rwd").partition("_")[2] for _ in range(1000)))

    assert used == CROCKFORD
