"""Members over HTTP: enroll, read by id, look up by identity."""

from __future__ import annotations

import pytest

from tests.api.support import SHOP, an_enrolment, assert_problem, members_url, table_counts
from tests.builders import a_member, a_program


def test_enrolling_a_member_answers_201_with_the_member_and_its_identities(client, ctx):
    a_program(ctx)
    response = client.post(f"{SHOP}/members",
                           json=an_enrolment("card:1234", birth_date="1990-04-23"))
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    member = response.get_json()
    assert member["id"].startswith("mem_")
    assert member["program_id"] == "shop"
    assert member["status"] == "active"
    assert member["identities"] == [{"kind": "card", "value": "1234"}]
    assert member["attributes"] == {"birth_date": "1990-04-23"}
    assert member["enrolled_at"].endswith("+00:00")
    assert table_counts(ctx)["members"] == 1


def test_an_enrolled_member_is_read_by_id(client, ctx):
    a_program(ctx)
    enrolled = client.post(f"{SHOP}/members", json=an_enrolment("card:1234")).get_json()
    response = client.get(members_url(enrolled["id"]))
    assert response.status_code == 200
    assert response.get_json() == enrolled


def test_a_member_is_found_by_any_of_its_identities(client, ctx):
    a_program(ctx)
    enrolled = client.post(f"{SHOP}/members", json=an_enrolment(
        "card:1234", "email:Ada@Example.com", "phone:+33 6 12 34 56 78")).get_json()
    for identity in ("card:1234", "email:ada@example.com", "phone:+33612345678"):
        response = client.get(f"{SHOP}/members", query_string={"identity": identity})
        assert response.status_code == 200, identity
        assert response.get_json()["id"] == enrolled["id"]


def test_identities_are_stored_normalised_so_every_channel_finds_the_same_member(client, ctx):
    a_program(ctx)
    enrolled = client.post(f"{SHOP}/members",
                           json=an_enrolment("email: Ada@Example.COM ")).get_json()
    assert enrolled["identities"] == [{"kind": "email", "value": "ada@example.com"}]
    found = client.get(f"{SHOP}/members", query_string={"identity": "email:ADA@example.com"})
    assert found.get_json()["id"] == enrolled["id"]


def test_looking_up_an_unknown_identity_is_a_member_not_found_problem(client, ada):
    response = client.get(f"{SHOP}/members", query_string={"identity": "card:9999"})
    assert_problem(response, 404, "member-not-found")


def test_looking_up_a_malformed_identity_is_refused_naming_identity(client, ada):
    response = client.get(f"{SHOP}/members", query_string={"identity": "1234"})
    assert_problem(response, 422, "invalid-request", field="identity")


def test_looking_up_without_an_identity_is_refused_naming_identity(client, ada):
    assert_problem(client.get(f"{SHOP}/members"), 422, "validation-error", field="identity")


def test_reading_an_unknown_member_is_a_member_not_found_problem(client, ada):
    problem = assert_problem(client.get(members_url("mem_nobody")), 404, "member-not-found")
    assert "mem_nobody" in problem["detail"]


def test_a_member_of_another_program_is_not_found_in_this_one(client, ctx):
    a_program(ctx)
    a_program(ctx, "cafe")
    grace = a_member(ctx, "card:5678", program_id="cafe")
    assert_problem(client.get(members_url(grace)), 404, "member-not-found")
    response = client.get(f"{SHOP}/members", query_string={"identity": "card:5678"})
    assert_problem(response, 404, "member-not-found")


def test_members_of_an_unknown_program_are_a_program_not_found_problem(client, ctx):
    a_program(ctx)
    for response in (
        client.post("/v1/programs/nowhere/members", json=an_enrolment("card:1234")),
        client.get("/v1/programs/nowhere/members", query_string={"identity": "card:1234"}),
        client.get("/v1/programs/nowhere/members/mem_x"),
    ):
        problem = assert_problem(response, 404, "program-not-found")
        assert problem["program"] == "nowhere"
    assert table_counts(ctx)["members"] == 0


def test_enrolling_an_identity_already_used_is_a_conflict_and_writes_nothing(client, ada, ctx):
    before = table_counts(ctx)
    response = client.post(f"{SHOP}/members", json=an_enrolment("card:5678", "card:1234"))
    problem = assert_problem(response, 409, "identity-already-used", field="identities")
    assert problem["identity"] == "card:1234"
    assert table_counts(ctx) == before


def test_the_same_identity_may_belong_to_members_of_two_programs(client, ctx):
    a_program(ctx)
    a_program(ctx, "cafe")
    a_member(ctx, "card:1234", program_id="cafe")
    response = client.post(f"{SHOP}/members", json=an_enrolment("card:1234"))
    assert response.status_code == 201


def test_enrolling_the_same_identity_twice_in_one_request_is_refused(client, ctx):
    a_program(ctx)
    response = client.post(f"{SHOP}/members", json=an_enrolment("card:1234", "card: 1234"))
    assert_problem(response, 422, "invalid-request", field="identities")
    assert table_counts(ctx)["members"] == 0


@pytest.mark.parametrize("body, field", [
    ({**an_enrolment("card:1234"), "nickname": "Ada"}, "nickname"),
    ({"identities": [{"kind": "card", "value": "1234", "primary": True}]}, "identities.0.primary"),
])
def test_enrolling_with_an_unknown_field_is_refused_naming_it(client, ctx, body, field):
    a_program(ctx)
    response = client.post(f"{SHOP}/members", json=body)
    assert_problem(response, 422, "validation-error", field=field)
    assert table_counts(ctx)["members"] == 0


@pytest.mark.parametrize("kind, value, field", [
    ("card", "12", "identities.0.value"),
    ("email", "ada.example.com", "identities.0.value"),
    ("phone", "call me", "identities.0.value"),
    ("fax", "0123456789", "identities.0.kind"),
])
def test_enrolling_with_an_invalid_identity_is_refused_naming_it(client, ctx, kind, value, field):
    a_program(ctx)
    response = client.post(f"{SHOP}/members",
                           json={"identities": [{"kind": kind, "value": value}]})
    assert_problem(response, 422, "validation-error", field=field)
    assert table_counts(ctx)["members"] == 0


@pytest.mark.parametrize("body", [{"identities": []}, {"attributes": {"tier": "gold"}}])
def test_enrolling_without_an_identity_is_refused_naming_identities(client, ctx, body):
    a_program(ctx)
    response = client.post(f"{SHOP}/members", json=body)
    assert_problem(response, 422, "validation-error", field="identities")


def test_a_birth_date_that_is_not_a_date_is_refused_naming_it(client, ctx):
    a_program(ctx)
    response = client.post(f"{SHOP}/members",
                           json=an_enrolment("card:1234", birth_date="23/04/1990"))
    assert_problem(response, 422, "invalid-request", field="attributes.birth_date")
    assert table_counts(ctx)["members"] == 0


def test_a_float_attribute_is_refused_with_a_pointer_into_the_request(client, ctx):
    # The pointer must address the offending value in the request body: #/attributes/score.
    a_program(ctx)
    response = client.post(f"{SHOP}/members", json=an_enrolment("card:1234", score=1.5))
    assert_problem(response, 422, "validation-error", field="attributes.score")
    assert table_counts(ctx)["members"] == 0


def test_an_attribute_holding_a_nul_character_is_refused_naming_it(client, ctx):
    # PostgreSQL cannot store U+0000 in text or jsonb: the API must refuse it on every
    # database alike rather than fail (or accept it on SQLite only).
    a_program(ctx)
    response = client.post(f"{SHOP}/members", json=an_enrolment("card:1234", note="a\u0000b"))
    assert_problem(response, 422, "validation-error", field="attributes.note")
    assert table_counts(ctx)["members"] == 0


def test_reading_a_member_whose_id_holds_a_nul_character_is_not_found(client, ada):
    assert_problem(client.get(members_url("mem%00x")), 404, "member-not-found")


def test_enrolling_again_with_the_same_idempotency_key_replays_the_first_answer(client, ctx):
    a_program(ctx)
    body = an_enrolment("card:1234", "email:ada@example.com")
    first = client.post(f"{SHOP}/members", json=body, headers={"Idempotency-Key": "enrol-1"})
    again = client.post(f"{SHOP}/members", json=body, headers={"Idempotency-Key": "enrol-1"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert table_counts(ctx)["members"] == 1


def test_an_idempotency_key_reused_for_another_enrolment_is_refused_and_writes_nothing(
        client, ctx):
    a_program(ctx)
    client.post(f"{SHOP}/members", json=an_enrolment("card:1234"),
                headers={"Idempotency-Key": "enrol-1"})
    before = table_counts(ctx)
    response = client.post(f"{SHOP}/members", json=an_enrolment("card:5678"),
                           headers={"Idempotency-Key": "enrol-1"})
    problem = assert_problem(response, 422, "idempotency-key-reused")
    assert problem["key"] == "enrol-1"
    assert table_counts(ctx) == before


def test_enrolling_twice_without_a_key_is_an_identity_conflict_not_a_replay(client, ctx):
    a_program(ctx)
    client.post(f"{SHOP}/members", json=an_enrolment("card:1234"))
    response = client.post(f"{SHOP}/members", json=an_enrolment("card:1234"))
    assert_problem(response, 409, "identity-already-used")
    assert table_counts(ctx)["members"] == 1
