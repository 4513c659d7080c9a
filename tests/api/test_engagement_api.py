"""Survey answers and referrals over HTTP, and the referrals job from the command line (SQLite
and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from api.cli import main
from loyalty.domain.members import Member
from loyalty.services.programs import CreateProgram, create_program
from tests.api.support import (
    SHOP,
    a_purchase_body,
    an_enrolment,
    assert_problem,
    members_url,
    table_counts,
)
from tests.builders import a_member

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
RULES: list[dict[str, Any]] = [
    {
        "id": "base",
        "name": "1 point per euro",
        "effect": {"type": "per_currency_unit", "points": "1"},
    },
    {
        "id": "survey",
        "name": "50 points an answer, once a month",
        "trigger": "survey_answered",
        "effect": {"type": "fixed", "points": 50},
        "limits": {"per_member": [{"period": "month", "points": 50}]},
    },
    {
        "id": "referral",
        "name": "500 points each",
        "trigger": "referral_completed",
        "effect": {"type": "fixed", "points": 500},
    },
]


@pytest.fixture
def ada(ctx) -> Member:
    with freeze_time(NOW - timedelta(days=30)):
        create_program(
            ctx,
            CreateProgram(
                "shop", "Shop", "EUR", "Europe/Paris", {"referrals": {"clear_after_days": 0}}, RULES
            ),
        )
        return a_member(ctx, "card:1234")


def an_answer(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": "SURVEY-1",
        "kind": "nps",
        "score": 9,
        "channel": "email",
    }
    body.update(fields)
    return body


def test_a_survey_answer_posted_twice_is_recorded_once(client, ada):
    first = client.post(
        members_url(ada, "/feedback"), json=an_answer(comment="Lovely shop", kind="csat", score=5)
    )
    again = client.post(
        members_url(ada, "/feedback"), json=an_answer(comment="Lovely shop", kind="csat", score=5)
    )

    assert first.status_code == 201, first.json
    body = first.json
    assert body["feedback"]["kind"] == "csat" and body["feedback"]["score"] == 5
    assert body["feedback"]["comment"] == "Lovely shop"
    assert body["points_earned"] == 50 and body["balance"] == {"available": 50, "pending": 0}
    assert [line["rule"] for line in body["explanation"]] == ["survey"]
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == body
    listed = client.get(members_url(ada, "/feedback")).json
    assert [a["feedback_id"] for a in listed["answers"]] == [body["feedback"]["feedback_id"]]


def test_another_answer_under_the_same_id_is_refused(client, ctx, ada):
    client.post(members_url(ada, "/feedback"), json=an_answer(score=9))
    before = table_counts(ctx)
    answer = client.post(members_url(ada, "/feedback"), json=an_answer(score=2))
    assert_problem(answer, 422, "idempotency-key-reused")
    assert table_counts(ctx) == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "csat", "score": 6}, "score"),
        ({"kind": "ces", "score": 0}, "score"),
        ({"kind": "nps", "score": 11}, "score"),
        ({"kind": "stars"}, "kind"),
        ({"score": 9.5}, "score"),
        ({"channel": "E-MAIL"}, "channel"),
        ({"comment": "x" * 2001}, "comment"),
        ({"purchase_id": "pur_someone_elses"}, "purchase_id"),
        ({"answered_at": "2999-01-01T00:00:00+00:00"}, "answered_at"),
        ({"answered_at": "2026-03-01T10:00:00"}, "answered_at"),  # no offset
    ],
)
def test_a_wrong_answer_is_refused_naming_its_field_and_nothing_is_written(
    client, ctx, ada, fields, field
):
    before = table_counts(ctx)
    answer = client.post(members_url(ada, "/feedback"), json=an_answer(**fields))
    assert answer.status_code == 422
    assert field in [error["field"] for error in answer.json["errors"]], answer.json
    assert table_counts(ctx) == before


def test_the_purchase_an_answer_is_about_must_be_the_members(client, ctx, ada):
    bob = a_member(ctx, "card:5678")
    bobs = client.post(f"{SHOP}/purchases", json=a_purchase_body(bob, "20.00")).json
    adas = client.post(f"{SHOP}/purchases", json=a_purchase_body(ada, "20.00")).json
    refused = client.post(
        members_url(ada, "/feedback"), json=an_answer(purchase_id=bobs["purchase_id"])
    )
    assert_problem(refused, 422, "invalid-request", field="purchase_id")
    accepted = client.post(
        members_url(ada, "/feedback"), json=an_answer(purchase_id=adas["purchase_id"])
    )
    assert accepted.status_code == 201
    assert accepted.json["feedback"]["purchase_id"] == adas["purchase_id"]


def test_a_member_answers_and_reads_their_answers_with_their_own_token_only(
    client, anonymous, ctx, ada
):
    bob = a_member(ctx, "card:5678")
    token = client.post(members_url(ada, "/tokens")).json["token"]
    as_ada = {"Authorization": f"Bearer {token}"}

    assert (
        anonymous.post(members_url(ada, "/feedback"), json=an_answer(), headers=as_ada).status_code
        == 201
    )
    assert len(anonymous.get(members_url(ada, "/feedback"), headers=as_ada).json["answers"]) == 1
    assert anonymous.get(members_url(ada, "/referrals"), headers=as_ada).status_code == 200
    before = table_counts(ctx)
    assert_problem(
        anonymous.post(
            members_url(bob, "/feedback"), json=an_answer(external_id="SURVEY-2"), headers=as_ada
        ),
        404,
        "member-not-found",
    )
    assert table_counts(ctx) == before


def test_answers_are_listed_a_page_at_a_time(client, ada):
    for day in range(5):
        at = (NOW - timedelta(days=day)).isoformat()
        client.post(
            members_url(ada, "/feedback"), json=an_answer(external_id=f"S-{day}", answered_at=at)
        )
    first = client.get(members_url(ada, "/feedback"), query_string={"limit": 3}).json
    rest = client.get(
        members_url(ada, "/feedback"), query_string={"limit": 3, "cursor": first["next_cursor"]}
    ).json
    assert [a["external_id"] for a in first["answers"]] == ["S-0", "S-1", "S-2"]
    assert [a["external_id"] for a in rest["answers"]] == ["S-3", "S-4"]
    assert rest["next_cursor"] is None
    assert_problem(
        client.get(members_url(ada, "/feedback"), query_string={"limit": 201}),
        422,
        "invalid-request",
        field="limit",
    )
    assert_problem(
        client.get(members_url(ada, "/feedback"), query_string={"cursor": "nope"}),
        422,
        "invalid-request",
        field="cursor",
    )


def test_a_friend_enrols_with_a_members_code_and_both_see_the_referral(client, ctx, ada):
    code = client.get(members_url(ada, "/referrals")).json["code"]
    before = table_counts(ctx)
    unknown = client.post(
        f"{SHOP}/members", json={**an_enrolment("card:5678"), "referral_code": "ZZZZ-ZZZZ"}
    )
    assert_problem(unknown, 422, "invalid-request", field="referral_code")
    own = client.post(
        f"{SHOP}/members", json={**an_enrolment("customer_id:1234"), "referral_code": code}
    )
    assert_problem(own, 422, "invalid-request", field="referral_code")  # Ada's own card number
    assert table_counts(ctx) == before

    enrolled = client.post(
        f"{SHOP}/members", json={**an_enrolment("card:5678"), "referral_code": code.lower()}
    )
    assert enrolled.status_code == 201, enrolled.json
    bob = enrolled.json["id"]

    adas = client.get(members_url(ada, "/referrals")).json
    assert adas["code"] == code and adas["referred_by"] is None
    assert [(r["referee_id"], r["status"], r["reason"]) for r in adas["referrals"]] == [
        (bob, "pending", None)
    ]
    bobs = client.get(members_url(bob, "/referrals")).json
    assert bobs["referred_by"]["referrer_id"] == ada.id
    assert bobs["code"] not in (None, code)


def test_the_referrals_job_runs_from_the_command_line(client, ctx, settings, monkeypatch, ada):
    code = client.get(members_url(ada, "/referrals")).json["code"]
    bob = client.post(
        f"{SHOP}/members", json={**an_enrolment("card:5678"), "referral_code": code}
    ).json["id"]
    # bought after enrolling with the code: a purchase dated before the referral never counts
    bought = client.post(
        f"{SHOP}/purchases",
        json=a_purchase_body({"id": bob}, "12.00", occurred_at=datetime.now(UTC).isoformat()),
    )
    assert bought.status_code == 201, bought.json
    monkeypatch.setenv("LOYALTY_DATABASE_URL", settings.database_url)
    runner = CliRunner()

    first = runner.invoke(main, ["jobs", "referrals"])
    again = runner.invoke(main, ["jobs", "referrals", "--batch-size", "10"])

    assert first.exit_code == 0, first.output
    assert first.output == (
        "Referrals: 1 qualified, 1 completed, 0 completed without the "
        "referrer's reward, 0 back to pending (purchase returned), "
        "0 rejected.\n"
    )
    assert again.exit_code == 0 and again.output.startswith("Referrals: 0 qualified, 0 completed")
    referral = client.get(members_url(bob, "/referrals")).json["referred_by"]
    assert referral["status"] == "completed" and referral["completed_at"] is not None
    assert client.get(members_url(ada, "/balance")).json["available"] == 500
    assert client.get(members_url(bob, "/balance")).json["available"] == 12 + 500
