"""Events, dry runs, simulation, the program definition (draft, publication, versions) and
back-tests over HTTP: what each answers, every refusal as problem+json, and who may call them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from loyalty.adapters.orm import MemberRow
from loyalty.domain.members import Member
from loyalty.services.access import Actor, CreateKey, create_key
from loyalty.services.programs import CreateProgram, create_program
from loyalty.services.purchases import record_purchase
from tests.api.support import (
    SHOP,
    a_purchase_body,
    an_hour_ago,
    assert_problem,
    table_counts,
)
from tests.builders import a_member, a_purchase

EVENTS = f"{SHOP}/events"
PURCHASES = f"{SHOP}/purchases"
DRY_RUN = f"{PURCHASES}?dry_run=true"
SIMULATE = f"{SHOP}/simulate"
DEFINITION = f"{SHOP}/definition"
DRAFT = f"{SHOP}/definition/draft"
PUBLISH = f"{SHOP}/definition/publish"
VERSIONS = f"{SHOP}/versions"
BACKTEST = f"{SHOP}/backtest"

BASE_RATE = {"id": "base", "name": "1 point per euro",
             "effect": {"type": "per_currency_unit", "points": "1"}}
BIG_SPENDER = {"id": "big-spender", "name": "20 points after 100 EUR in 30 days",
               "conditions": {"fact": "member.spend_last_days", "days": 30, "op": "gte",
                              "value": "100.00"},
               "effect": {"type": "fixed", "points": 20}}
REVIEW = {"id": "review", "name": "25 points for a review", "trigger": "review",
          "effect": {"type": "fixed", "points": 25}}
DOUBLE_RATE = {"id": "base", "name": "2 points per euro",
               "effect": {"type": "per_currency_unit", "points": "2"}}
BIG_BASKET = {"id": "big-basket", "name": "15 points on baskets of 25 EUR or more",
              "conditions": {"fact": "basket.total", "op": "gte", "value": "25.00"},
              "effect": {"type": "fixed", "points": 15}}


@pytest.fixture
def ada(ctx) -> Member:
    """The program "shop" (EUR, Europe/Paris) whose version 1 gives 1 point per EUR, 20 more
    to whoever spent 100 EUR in the last 30 days, and 25 for a review; and its member ada."""
    create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", {},
                                      [BASE_RATE, BIG_SPENDER, REVIEW]))
    return a_member(ctx, "card:1234")


def a_client(app, ctx, *scopes: str):
    secret = create_key(ctx, CreateKey("m", scopes, "shop"), Actor("cli:t")).secret
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


@pytest.fixture
def marketer(app, ctx, ada):
    return a_client(app, ctx, "marketer")


@pytest.fixture
def checkout(app, ctx, ada):
    return a_client(app, ctx, "checkout")


def a_review(member: Member, external_id: str = "REV-1", **fields: Any) -> dict[str, Any]:
    return {"member": {"id": member.id}, "type": "review", "external_id": external_id,
            "occurred_at": an_hour_ago(), **fields}


def a_document(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"settings": {}, "rules": list(rules)}


def a_simulation(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"purchase": {"currency": "EUR", "lines": [
        {"sku": "SKU-1", "quantity": 1, "unit_price": "20.00"}]}}
    body.update(fields)
    return body


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def close(ctx, member: Member) -> None:
    with ctx.uow() as uow:
        uow.session.execute(update(MemberRow).where(MemberRow.id == member.id)
                            .values(status="closed"))
        uow.commit()


# -- events -----------------------------------------------------------------------------------


def test_an_event_earns_the_points_of_its_rules_and_explains_them(client, ada):
    response = client.post(EVENTS, json=a_review(ada))

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    recorded = response.get_json()
    assert (recorded["type"], recorded["external_id"]) == ("review", "REV-1")
    assert (recorded["points_earned"], recorded["program_version"]) == (25, 1)
    assert [line["rule"] for line in recorded["explanation"]] == ["review"]
    assert recorded["balance"] == {"available": 25, "pending": 0}


def test_posting_an_event_again_replays_the_first_answer_with_200(client, ada, ctx):
    first = client.post(EVENTS, json=a_review(ada, occurred_at="2026-01-05T10:00:00+01:00"))
    again = client.post(EVENTS, json=a_review(ada, occurred_at="2026-01-05T10:00:00+01:00"))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert table_counts(ctx)["events"] == 1


def test_the_same_event_id_with_another_payload_is_refused(client, ada, ctx):
    client.post(EVENTS, json=a_review(ada, properties={"stars": 5}))
    counts = table_counts(ctx)

    response = client.post(EVENTS, json=a_review(ada, properties={"stars": 1}))

    assert_problem(response, 422, "idempotency-key-reused")
    assert table_counts(ctx) == counts


def test_an_event_for_a_closed_member_is_refused(client, ada, ctx):
    close(ctx, ada)
    counts = table_counts(ctx)

    response = client.post(EVENTS, json=a_review(ada))

    assert_problem(response, 409, "member-not-active")
    assert table_counts(ctx) == counts


def test_an_event_for_an_unknown_member_is_not_found(client, ada, ctx):
    counts = table_counts(ctx)

    review = {**a_review(ada), "member": {"identity": "card:99999999"}}

    response = client.post(EVENTS, json=review)

    assert_problem(response, 404, "member-not-found")
    assert table_counts(ctx) == counts


@pytest.mark.parametrize(("name", "value", "field"), [
    ("type", "Not A Type", "type"),
    ("occurred_at", "2026-01-05T10:00:00", "occurred_at"),  # no offset
    ("properties", {"score": 4.5}, "properties.score"),  # a float
])
def test_a_malformed_event_is_refused_naming_the_field(client, ada, name, value, field):
    response = client.post(EVENTS, json=a_review(ada, **{name: value}))

    assert_problem(response, 422, "validation-error", field=field)


def test_an_event_dated_in_the_future_is_refused(client, ada):
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    response = client.post(EVENTS, json=a_review(ada, occurred_at=later))

    assert_problem(response, 422, "invalid-request", field="occurred_at")


# -- dry runs ---------------------------------------------------------------------------------


def test_a_dry_run_answers_200_with_a_simulation_and_writes_nothing(client, ada, ctx):
    body = a_purchase_body(ada, "25.00", external_id="TILL-1")
    counts = table_counts(ctx)

    response = client.post(DRY_RUN, json=body)

    assert response.status_code == 200
    simulation = response.get_json()
    assert set(simulation) == {"version", "points", "earn_base", "explanation"}
    assert (simulation["version"], simulation["points"], simulation["earn_base"]) == (
        1, 25, "25.00")
    assert [line["applied"] for line in simulation["explanation"]] == [True, False]
    assert table_counts(ctx) == counts
    recorded = client.post(PURCHASES, json=body)  # the dry run claimed no purchase id
    assert recorded.status_code == 201
    assert recorded.get_json()["points_earned"] == 25


def test_a_dry_run_for_an_unknown_member_is_not_found(client, ada):
    response = client.post(DRY_RUN, json=a_purchase_body("card:99999999"))

    assert_problem(response, 404, "member-not-found")


def test_a_dry_run_in_another_currency_names_the_currency_field(client, ada):
    response = client.post(DRY_RUN, json=a_purchase_body(ada, currency="USD"))

    # the purchase body's field is "currency"; there is no "purchase" object in it
    assert_problem(response, 422, "currency-mismatch", field="currency")


def test_a_dry_run_flag_that_is_not_a_boolean_is_refused(client, ada):
    response = client.post(f"{PURCHASES}?dry_run=perhaps", json=a_purchase_body(ada))

    assert_problem(response, 422, "validation-error", field="dry_run")


# -- simulate ---------------------------------------------------------------------------------


def test_simulate_under_the_published_version_and_under_the_draft(client, ada, ctx):
    client.put(DRAFT, json=a_document(DOUBLE_RATE, REVIEW))
    counts = table_counts(ctx)

    published = client.post(SIMULATE, json=a_simulation(member={"id": ada.id}))
    draft = client.post(SIMULATE, json=a_simulation(member={"id": ada.id}, version="draft"))
    first = client.post(SIMULATE, json=a_simulation(member={"id": ada.id}, version=1))

    assert (published.status_code, draft.status_code, first.status_code) == (200, 200, 200)
    assert published.get_json()["version"] == 1
    assert (published.get_json()["points"], published.get_json()["earn_base"]) == (20, "20.00")
    assert (draft.get_json()["version"], draft.get_json()["points"]) == (None, 40)  # 20 x 2
    assert first.get_json()["points"] == 20
    assert table_counts(ctx) == counts


def test_simulate_for_a_hypothetical_member_with_a_spending_history(client, ada, ctx):
    counts = table_counts(ctx)

    regular = client.post(SIMULATE, json=a_simulation(
        hypothetical_member={"spend_last_days": {"30": "120.00"}}))
    newcomer = client.post(SIMULATE, json=a_simulation(hypothetical_member={}))

    assert regular.status_code == 200
    assert regular.get_json()["points"] == 40  # 20 EUR x 1 + 20, having spent 120 >= 100
    assert newcomer.get_json()["points"] == 20
    assert table_counts(ctx) == counts


def test_a_hypothetical_spending_is_read_in_the_program_s_currency(client, ctx):
    big_spender = {**BIG_SPENDER, "conditions": {**BIG_SPENDER["conditions"], "value": "10000"}}
    create_program(ctx, CreateProgram("yen", "Yen", "JPY", "Asia/Tokyo", {},
                                      [BASE_RATE, big_spender]))
    body = {"purchase": {"currency": "JPY", "lines": [
        {"sku": "SKU-1", "quantity": 1, "unit_price": "2000"}]},
        "hypothetical_member": {"spend_last_days": {"30": "150"}}}

    response = client.post("/v1/programs/yen/simulate", json=body)

    # 150 JPY spent is far below 10000 JPY: 2000 JPY x 1 point, no bonus
    assert response.get_json()["points"] == 2000


def test_simulate_reads_an_existing_member_s_spending_from_history(client, ada, ctx):
    record_purchase(ctx, a_purchase(ada, "100.00", occurred_at=ago(days=2)))

    response = client.post(SIMULATE, json=a_simulation(member={"id": ada.id}))

    assert response.get_json()["points"] == 40  # 20 + 20: 100 spent in the last 30 days


def test_simulate_an_event(client, ada):
    response = client.post(SIMULATE, json={"event": {"type": "review"},
                                           "hypothetical_member": {}})

    assert response.status_code == 200
    assert (response.get_json()["points"], response.get_json()["earn_base"]) == (25, None)


def test_simulate_an_unknown_version_is_not_found(client, ada):
    response = client.post(SIMULATE, json=a_simulation(hypothetical_member={}, version=9))

    assert_problem(response, 404, "version-not-found")


def test_simulate_the_draft_when_there_is_none_is_refused(client, ada):
    response = client.post(SIMULATE, json=a_simulation(hypothetical_member={}, version="draft"))

    assert_problem(response, 422, "invalid-request", field="version")


@pytest.mark.parametrize(("body", "field"), [
    (a_simulation(event={"type": "review"}, hypothetical_member={}), "purchase"),
    (a_simulation(), "member"),
])
def test_simulate_needs_one_purchase_or_event_and_one_member(client, ada, body, field):
    response = client.post(SIMULATE, json=body)

    assert_problem(response, 422, "invalid-request", field=field)


@pytest.mark.parametrize("version", ["latest", 0, True, 1.5])
def test_simulate_a_version_that_is_not_one_is_refused(client, ada, version):
    response = client.post(SIMULATE, json=a_simulation(hypothetical_member={}, version=version))

    assert_problem(response, 422, "validation-error", field="version")


# -- the definition, its draft and its versions ------------------------------------------------


def test_the_definition_in_force_is_version_1_as_created(client, ada):
    response = client.get(DEFINITION)

    assert response.status_code == 200
    version = response.get_json()
    assert (version["program_id"], version["version"], version["effective_from"]) == (
        "shop", 1, None)
    assert [rule["id"] for rule in version["document"]["rules"]] == [
        "base", "big-spender", "review"]


def test_without_a_draft_the_draft_is_the_version_in_force_to_start_from(client, ada):
    draft = client.get(DRAFT).get_json()

    assert (draft["saved"], draft["based_on"], draft["updated_by"]) == (False, 1, None)
    assert draft["document"] == client.get(DEFINITION).get_json()["document"]


def test_a_saved_draft_is_read_back_and_changes_nothing_in_force(client, ada):
    saved = client.put(DRAFT, json=a_document(DOUBLE_RATE))

    assert saved.status_code == 200
    assert saved.get_json()["saved"] is True
    assert saved.get_json()["updated_by"].startswith("key:")
    draft = client.get(DRAFT).get_json()
    assert draft["saved"] is True
    assert draft["document"]["rules"][0]["effect"]["points"] == "2"
    assert client.get(DEFINITION).get_json()["version"] == 1


def test_a_draft_with_mistakes_is_refused_listing_every_one_with_its_path(client, ada, ctx):
    document = {
        "settings": {"earn": {"roundng": "floor"}},
        "rules": [
            {**BIG_BASKET, "conditions": {"fact": "basket.total", "op": "gte", "value": 25}},
            {"id": "bonus", "name": "a bonus", "effect": {"type": "fixed", "points": -5}},
        ],
    }
    counts = table_counts(ctx)

    response = client.put(DRAFT, json=document)

    problem = assert_problem(response, 422, "invalid-definition")
    assert sorted((e["field"], e["pointer"]) for e in problem["errors"]) == [
        ("rules[0].conditions.value", "#/rules/0/conditions/value"),
        ("rules[1].effect.points", "#/rules/1/effect/points"),
        ("settings.earn.roundng", "#/settings/earn/roundng"),
    ]
    assert all(error["detail"] for error in problem["errors"])
    assert table_counts(ctx) == counts
    assert client.get(DRAFT).get_json()["saved"] is False


def test_a_draft_with_an_unknown_top_level_key_is_refused(client, ada):
    response = client.put(DRAFT, json={"rules": [], "rule": []})

    assert_problem(response, 422, "validation-error", field="rule")


def test_publishing_makes_the_draft_the_next_version_in_force_now(client, ada):
    client.put(DRAFT, json=a_document(DOUBLE_RATE))

    response = client.post(PUBLISH, json={})

    assert response.status_code == 201
    published = response.get_json()
    assert published["version"] == 2
    assert published["effective_from"] == published["published_at"]
    assert client.get(DEFINITION).get_json()["version"] == 2
    assert client.get(DRAFT).get_json()["based_on"] == 2  # the draft was consumed
    assert client.post(PURCHASES, json=a_purchase_body(ada, "10.00", occurred_at=datetime.now(
        UTC).isoformat())).get_json()["points_earned"] == 20  # 10 EUR x 2 under version 2


def test_a_version_published_for_later_is_not_in_force_yet(client, ada):
    client.put(DRAFT, json=a_document(DOUBLE_RATE))
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)

    response = client.post(PUBLISH, json={"effective_from": tomorrow.isoformat()})

    assert response.status_code == 201
    assert datetime.fromisoformat(response.get_json()["effective_from"]) == tomorrow
    assert client.get(DEFINITION).get_json()["version"] == 1
    assert [v["version"] for v in client.get(VERSIONS).get_json()["versions"]] == [1, 2]


def test_publishing_without_a_draft_is_refused(client, ada, ctx):
    counts = table_counts(ctx)

    response = client.post(PUBLISH, json={})

    assert_problem(response, 422, "invalid-request", field="draft")
    assert table_counts(ctx) == counts


def test_a_version_cannot_take_effect_in_the_past(client, ada):
    client.put(DRAFT, json=a_document(DOUBLE_RATE))

    response = client.post(PUBLISH, json={"effective_from": ago(minutes=1).isoformat()})

    assert_problem(response, 422, "invalid-request", field="effective_from")
    assert client.get(DRAFT).get_json()["saved"] is True


def test_an_effective_from_without_an_offset_is_refused(client, ada):
    client.put(DRAFT, json=a_document(DOUBLE_RATE))

    response = client.post(PUBLISH, json={"effective_from": "2030-01-01T00:00:00"})

    assert_problem(response, 422, "validation-error", field="effective_from")


def test_versions_list_every_publication_and_each_reads_back_unchanged(client, ada):
    client.put(DRAFT, json=a_document(DOUBLE_RATE))
    client.post(PUBLISH, json={})
    client.put(DRAFT, json=a_document(BASE_RATE))  # a new draft changes no version

    listed = client.get(VERSIONS)
    second = client.get(f"{VERSIONS}/2")

    assert listed.status_code == 200
    versions = listed.get_json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert set(versions[0]) == {"version", "published_at", "effective_from", "published_by"}
    assert second.status_code == 200
    assert second.get_json()["document"]["rules"] == [DOUBLE_RATE]


@pytest.mark.parametrize("version", [9, 0, -1])
def test_an_unknown_version_is_not_found(client, ada, version):
    response = client.get(f"{VERSIONS}/{version}")

    assert_problem(response, 404, "version-not-found")


def test_the_definition_of_an_unknown_program_is_not_found(client, ada):
    response = client.get("/v1/programs/nope/definition")

    assert_problem(response, 404, "program-not-found")


# -- back-tests -------------------------------------------------------------------------------


def test_a_backtest_compares_the_draft_with_what_was_issued(client, ada, ctx):
    bob = a_member(ctx)
    for member, amount, when in [
        (ada, "10.00", ago(hours=5)),  # 10 issued, 10 under the draft
        (ada, "30.00", ago(hours=4)),  # 30 issued, 30 + 15 under the draft
        (bob, "5.00", ago(hours=3)),  # 5 issued, 5 under the draft
        (bob, "40.00", ago(days=3)),  # before the range
    ]:
        record_purchase(ctx, a_purchase(member, amount, occurred_at=when))
    client.put(DRAFT, json=a_document(BASE_RATE, BIG_BASKET))
    counts = table_counts(ctx)

    response = client.post(BACKTEST, json={"since": ago(days=1).isoformat(),
                                           "until": ago(hours=1).isoformat()})

    assert response.status_code == 200
    report = response.get_json()
    assert (report["version"], report["purchases"], report["members"]) == (None, 3, 2)
    assert (report["points_issued"], report["points_simulated"]) == (45, 60)
    assert (report["difference"], report["members_affected"]) == (15, 1)
    assert report["rules"] == [
        {"rule_id": "base", "name": "1 point per euro", "points": 45, "purchases": 3},
        {"rule_id": "big-basket", "name": "15 points on baskets of 25 EUR or more",
         "points": 15, "purchases": 1},
    ]
    assert table_counts(ctx) == counts


def test_a_backtest_of_the_version_in_force_finds_no_difference(client, ada, ctx):
    record_purchase(ctx, a_purchase(ada, "12.00", occurred_at=ago(hours=2)))

    report = client.post(BACKTEST, json={"since": ago(days=1).isoformat(),
                                         "until": datetime.now(UTC).isoformat(),
                                         "version": 1}).get_json()

    assert (report["version"], report["points_issued"], report["points_simulated"]) == (
        1, 12, 12)
    assert report["members_affected"] == 0


def test_a_backtest_that_ends_before_it_starts_is_refused(client, ada):
    response = client.post(BACKTEST, json={"since": an_hour_ago(),
                                           "until": ago(days=1).isoformat(), "version": 1})

    assert_problem(response, 422, "invalid-request", field="until")


def test_a_backtest_of_a_draft_that_does_not_exist_is_refused(client, ada):
    response = client.post(BACKTEST, json={"since": ago(days=1).isoformat(),
                                           "until": an_hour_ago()})

    assert_problem(response, 422, "invalid-request", field="version")


def test_a_backtest_of_an_unknown_version_is_not_found(client, ada):
    response = client.post(BACKTEST, json={"since": ago(days=1).isoformat(),
                                           "until": an_hour_ago(), "version": 9})

    assert_problem(response, 404, "version-not-found")


@pytest.mark.parametrize("body", [
    {"until": "2026-01-02T00:00:00Z"},  # no since
    {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "version": "published"},
])
def test_a_malformed_backtest_is_refused(client, ada, body):
    response = client.post(BACKTEST, json=body)

    problem = assert_problem(response, 422, "validation-error")
    assert {error["field"] for error in problem["errors"]} <= {"since", "version"}


# -- who may call what ------------------------------------------------------------------------

MARKETER_ROUTES = [
    ("get", DEFINITION, None),
    ("get", DRAFT, None),
    ("put", DRAFT, a_document(DOUBLE_RATE)),
    ("post", PUBLISH, {}),
    ("get", VERSIONS, None),
    ("get", f"{VERSIONS}/1", None),
    ("post", SIMULATE, a_simulation(hypothetical_member={})),
    ("post", BACKTEST, {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z",
                        "version": 1}),
]


def test_a_marketer_key_manages_the_definition(marketer):
    answers = [getattr(marketer, method)(path, json=body).status_code
               for method, path, body in MARKETER_ROUTES]

    # in this order the publication finds the draft just saved
    assert answers == [200, 200, 200, 201, 200, 200, 200, 200]
    assert marketer.get(DEFINITION).get_json()["version"] == 2


@pytest.mark.parametrize(("method", "path", "body"), MARKETER_ROUTES)
def test_a_checkout_key_may_not_touch_the_definition(checkout, ctx, method, path, body):
    counts = table_counts(ctx)

    response = getattr(checkout, method)(path, json=body)

    assert_problem(response, 403, "forbidden")
    assert table_counts(ctx) == counts


def test_a_checkout_key_posts_events_and_dry_runs_but_a_marketer_key_does_not(
        checkout, marketer, ada):
    assert checkout.post(EVENTS, json=a_review(ada)).status_code == 201
    assert checkout.post(DRY_RUN, json=a_purchase_body(ada)).status_code == 200
    assert_problem(marketer.post(EVENTS, json=a_review(ada, "REV-2")), 403, "forbidden")
