"""Proactive notices over HTTP: a member's notices (agent, the member's own token) and the
program's (marketer), newest first, paged and filtered; and the ``loyalty jobs notices``
command."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from api.cli import main
from loyalty.domain.members import Identity, Member
from loyalty.services.access import Actor, CreateKey, create_key
from loyalty.services.members import EnrollMember, enroll_member
from loyalty.services.notices import find_notices
from loyalty.services.purchases import record_purchase
from tests.api.support import SHOP, assert_problem, members_url
from tests.builders import a_program, a_purchase

NOTICES = {
    "points_expiring_within_days": None,
    "near_next_tier_percent": None,
    "tier_drop_within_days": None,
    "lapsed_after_days": 90,
    "birthday": True,
    "reward_back_in_stock": False,
}


def enrolled(ctx, card: str, birth_date: str) -> Member:
    with freeze_time("2025-06-01 10:00:00"):
        return enroll_member(
            ctx, EnrollMember("shop", (Identity.parse(card),), {"birth_date": birth_date})
        ).result


def bought(ctx, member: Member, at: str) -> None:
    with freeze_time(at):
        record_purchase(ctx, a_purchase(member, "10.00"))


def found(ctx, at: str) -> None:
    with freeze_time(at):
        find_notices(ctx)


@pytest.fixture
def noticed(ctx) -> dict[str, Member]:
    """Ada: lapsed (last purchase on 1 January 2026) and a birthday, found on 15 April 2026,
    lapsed again (after buying on 20 April), found on 1 August; Bob: a birthday, found on 16
    April."""
    with freeze_time("2025-06-01 10:00:00"):
        a_program(ctx, notices=NOTICES)
    ada = enrolled(ctx, "card:1111", "1990-04-15")
    bob = enrolled(ctx, "card:2222", "1980-04-16")
    bought(ctx, ada, "2026-01-01 10:00:00")
    found(ctx, "2026-04-15 08:00:00")
    found(ctx, "2026-04-16 08:00:00")
    bought(ctx, ada, "2026-04-20 10:00:00")
    found(ctx, "2026-08-01 08:00:00")
    return {"ada": ada, "bob": bob}


def key(ctx, *scopes: str) -> dict[str, str]:
    secret = create_key(ctx, CreateKey("test key", scopes, "shop"), Actor("cli:tests")).secret
    return {"Authorization": f"Bearer {secret}"}


def test_a_members_notices_are_read_newest_first_a_page_at_a_time(client, noticed):
    ada = noticed["ada"]

    first = client.get(members_url(ada, "/notices"), query_string={"limit": 2})

    assert first.status_code == 200
    page = first.get_json()
    assert [(n["kind"], n["occasion"]) for n in page["notices"]] == [
        ("lapsed", "2026-04-20"),
        ("birthday", "2026"),
    ]
    assert page["notices"][0]["member_id"] == ada.id
    assert page["notices"][0]["created_at"] == "2026-08-01T08:00:00+00:00"
    assert page["notices"][0]["payload"] == {
        "last_purchase_at": "2026-04-20T10:00:00+00:00",
        "days": 102,
    }
    rest = client.get(
        members_url(ada, "/notices"), query_string={"limit": 2, "cursor": page["next_cursor"]}
    ).get_json()
    assert [(n["kind"], n["occasion"]) for n in rest["notices"]] == [("lapsed", "2026-01-01")]
    assert rest["next_cursor"] is None


def test_the_member_reads_its_own_notices_with_its_token_and_no_one_elses(client, ctx, noticed):
    ada, bob = noticed["ada"], noticed["bob"]
    token = client.post(members_url(ada, "/tokens"), headers=key(ctx, "checkout")).get_json()
    mine = {"Authorization": f"Bearer {token['token']}"}

    own = client.get(members_url(ada, "/notices"), headers=mine)
    other = client.get(members_url(bob, "/notices"), headers=mine)

    assert own.status_code == 200 and len(own.get_json()["notices"]) == 3
    assert_problem(other, 404, "member-not-found")
    assert client.get(members_url(bob, "/notices"), headers=key(ctx, "agent")).status_code == 200
    assert_problem(
        client.get(members_url(bob, "/notices"), headers=key(ctx, "checkout")), 403, "forbidden"
    )
    assert_problem(client.get(members_url("mem_nobody", "/notices")), 404, "member-not-found")


def test_the_marketer_reads_the_programs_notices_by_kind_and_time(client, ctx, noticed):
    marketer = key(ctx, "marketer")

    def occasions(**query: Any) -> list[tuple[str, str, str]]:
        answer = client.get(f"{SHOP}/notices", query_string=query, headers=marketer)
        assert answer.status_code == 200, answer.get_json()
        names = {noticed["ada"].id: "ada", noticed["bob"].id: "bob"}
        return [
            (names[n["member_id"]], n["kind"], n["occasion"]) for n in answer.get_json()["notices"]
        ]

    assert occasions() == [
        ("ada", "lapsed", "2026-04-20"),
        ("bob", "birthday", "2026"),
        ("ada", "birthday", "2026"),
        ("ada", "lapsed", "2026-01-01"),
    ]
    first = client.get(f"{SHOP}/notices", query_string={"limit": 3}, headers=marketer)
    assert occasions(limit=3, cursor=first.get_json()["next_cursor"]) == [
        ("ada", "lapsed", "2026-01-01")
    ]
    assert occasions(kind="birthday") == [("bob", "birthday", "2026"), ("ada", "birthday", "2026")]
    assert occasions(**{"from": "2026-08-01T08:00:00Z"}) == [("ada", "lapsed", "2026-04-20")]
    assert occasions(**{"to": "2026-08-01T08:00:00+00:00", "kind": "lapsed"}) == [
        ("ada", "lapsed", "2026-01-01")
    ]
    assert_problem(client.get(f"{SHOP}/notices", headers=key(ctx, "agent")), 403, "forbidden")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"kind": "anniversary"}, "kind"),
        ({"from": "2026-05-01T00:00:00Z", "to": "2026-05-01T00:00:00Z"}, "to"),
        ({"from": "2026-05-01"}, "from"),
        ({"cursor": "not-ours"}, "cursor"),
        ({"limit": 100_000}, "limit"),
    ],
)
def test_a_bad_notices_query_is_refused_with_the_field_named(client, noticed, query, field):
    assert_problem(
        client.get(f"{SHOP}/notices", query_string=query),
        422,
        "validation-error" if field in ("kind", "from") else "invalid-request",
        field=field,
    )


def test_the_notices_job_reports_what_it_found_per_kind(ctx, settings, monkeypatch):
    with freeze_time("2025-06-01 10:00:00"):
        a_program(ctx, notices=NOTICES)
    ada = enrolled(ctx, "card:1111", "1990-04-15")
    bought(ctx, ada, "2026-01-01 10:00:00")
    monkeypatch.setenv("LOYALTY_DATABASE_URL", settings.database_url)
    runner = CliRunner()

    with freeze_time("2026-04-15 08:00:00"):
        first = runner.invoke(main, ["jobs", "notices"])
        again = runner.invoke(main, ["jobs", "notices", "--program", "shop"])
        missing = runner.invoke(main, ["jobs", "notices", "--program", "nowhere"])

    assert first.exit_code == 0, first.output
    assert first.output == (
        "Found 2 new notice(s): points_expiring 0, near_next_tier 0, "
        "tier_drop 0, lapsed 1, birthday 1, reward_back_in_stock 0.\n"
    )
    assert again.exit_code == 0 and again.output.startswith("Found 0 new notice(s)")
    assert missing.exit_code == 1 and "no program 'nowhere'" in missing.output
