"""GET /v1/programs/{program}/analytics: the figures as JSON, its validation and who may read
it. The data is the hand-built January of ``tests/integration/test_analytics.py``."""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from loyalty.services.access import Actor, CreateKey, create_key
from loyalty.services.programs import CreateProgram, create_program
from tests.api.support import assert_problem, table_counts
from tests.integration.test_analytics import AS_OF, a_program_with_tiers_and_rewards, january

URL = "/v1/programs/shop/analytics"


def key(ctx, *scopes: str, program: str | None = "shop") -> dict[str, str]:
    command = CreateKey("analytics test", scopes, program, all_programs=program is None)
    secret = create_key(ctx, command, Actor("cli:tests")).secret
    return {"Authorization": f"Bearer {secret}"}


def test_a_marketer_reads_the_figures_of_january(client, ctx):
    january(ctx)
    marketer = key(ctx, "marketer")
    with freeze_time(AS_OF):
        answer = client.get(f"{URL}?from=2026-01-01&to=2026-01-31&interval=week", headers=marketer)
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert (body["program_id"], body["currency"], body["time_zone"]) == (
        "shop",
        "EUR",
        "Europe/Paris",
    )
    assert (body["from"], body["to"], body["days"]) == ("2026-01-01", "2026-01-31", 31)
    assert (body["previous_from"], body["previous_to"]) == ("2025-12-01", "2025-12-31")
    assert body["as_of"].startswith("2026-02-01T12:00:00")
    assert (body["cost_per_point"], body["interval"], body["by"], body["groups"]) == (
        "0.005",
        "week",
        None,
        [],
    )
    totals = body["totals"]
    assert totals["key"] == "total"
    assert (totals["active_members"], totals["purchases"], totals["revenue"]) == (3, 4, "340.00")
    assert (totals["average_order_value"], totals["clv_historical"], totals["clv_predicted"]) == (
        "85.00",
        "71.43",
        "226.67",
    )
    assert (
        totals["repeat_purchase_rate"],
        totals["retention_rate"],
        totals["churn_rate"],
        totals["purchase_frequency"],
    ) == ("0.3333", "0.5000", "0.5000", "1.33")
    assert (totals["nps"], totals["csat_average"], totals["ces_average"]) == (
        "40.0",
        "4.33",
        "3.50",
    )
    assert (
        totals["points_issued"],
        totals["points_redeemed"],
        totals["points_expired"],
        totals["points_reversed"],
        totals["redemption_rate"],
        totals["breakage_rate"],
    ) == (360, 160, 100, 70, "0.4444", "0.3846")
    assert (totals["liability_points"], totals["liability"], totals["pending_liability"]) == (
        233,
        "1.16",
        "0.00",
    )
    assert body["trend"][0] == {
        "start": "2026-01-01",
        "end": "2026-01-04",
        "active_members": 1,
        "new_members": 0,
        "purchases": 1,
        "revenue": "60.00",
        "points_issued": 80,
        "points_redeemed": 30,
    }
    assert len(body["trend"]) == 5
    assert body["tier_distribution"] == [
        {"tier": "member", "name": "Member", "members": 5},
        {"tier": "silver", "name": "Silver", "members": 1},
        {"tier": "gold", "name": "Gold", "members": 1},
    ]
    assert (body["tier_moves_up"], body["tier_moves_down"]) == (2, 1)
    assert body["rewards"][0] == {
        "reward_id": "coffee",
        "name": "Coffee",
        "redemptions": 2,
        "points": 60,
    }


def test_the_breakdown_by_channel_and_by_tier(client, ctx):
    january(ctx)
    with freeze_time(AS_OF):
        channels = client.get(f"{URL}?from=2026-01-01&to=2026-01-31&by=channel").json
        tiers = client.get(f"{URL}?from=2026-01-01&to=2026-01-31&by=tier").json
    assert [
        (g["key"], g["purchases"], g["revenue"], g["liability"]) for g in channels["groups"]
    ] == [("app", 0, "0.00", None), ("pos", 2, "110.00", None), ("web", 2, "230.00", None)]
    assert [(g["key"], g["members"], g["liability"]) for g in tiers["groups"]] == [
        ("member", 5, "0.82"),
        ("silver", 1, "0.35"),
        ("gold", 1, "0.00"),
    ]


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("to=2026-01-31", "validation-error", "from"),
        ("from=2026-01-01", "validation-error", "to"),
        ("from=2026-01-32&to=2026-02-01", "validation-error", "from"),
        ("from=2026-02-01&to=2026-01-31", "invalid-request", "to"),
        ("from=2024-01-01&to=2026-01-31", "invalid-request", "to"),  # 762 days
        ("from=1900-01-01&to=1900-01-31", "invalid-request", "from"),
        ("from=2026-01-01&to=2026-01-31&by=store", "validation-error", "by"),
        ("from=2026-01-01&to=2026-01-31&interval=hour", "validation-error", "interval"),
        ("from=2026-01-01&to=2026-01-31&top=0", "validation-error", "top"),
        ("from=2026-01-01&to=2026-01-31&top=101", "validation-error", "top"),
        ("from=2026-01-01&to=2026-01-31&colour=red", "validation-error", "colour"),
    ],
)
def test_a_bad_query_is_refused_naming_its_field(client, ctx, query, code, field):
    a_program_with_tiers_and_rewards(ctx)
    before = table_counts(ctx)
    assert_problem(client.get(f"{URL}?{query}"), 422, code, field=field)
    assert table_counts(ctx) == before


def test_a_tier_breakdown_needs_tiers(client, ctx):
    create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", settings={}))
    answer = client.get(f"{URL}?from=2026-01-01&to=2026-01-31&by=tier")
    assert_problem(answer, 422, "invalid-request", field="by")
    assert client.get(f"{URL}?from=2026-01-01&to=2026-01-31").status_code == 200


def test_only_marketers_and_admins_of_the_program_read_its_figures(app, ctx):
    a_program_with_tiers_and_rewards(ctx)
    a_program_with_tiers_and_rewards(ctx, "other", "Other")
    client = app.test_client()
    query = f"{URL}?from=2026-01-01&to=2026-01-31"
    assert client.get(query).status_code == 401
    for scope in ("checkout", "agent", "supervisor"):
        assert_problem(client.get(query, headers=key(ctx, scope)), 403, "forbidden")
    assert_problem(
        client.get(query, headers=key(ctx, "marketer", program="other")), 404, "program-not-found"
    )
    assert client.get(query, headers=key(ctx, "marketer")).status_code == 200
    assert client.get(query, headers=key(ctx, "admin")).status_code == 200
    assert_problem(
        client.get(
            "/v1/programs/nowhere/analytics?from=2026-01-01&to=2026-01-31",
            headers=key(ctx, "admin", program=None),
        ),
        404,
        "program-not-found",
    )
