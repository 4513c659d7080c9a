"""Segments over HTTP and on the command line: a marketer drafts and publishes segments, reads
them with their counts and pages through their members; members enrol with their consents.
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from api.cli import main
from loyalty.services.access import Actor, CreateKey, create_key
from tests.api.support import PROBLEM_JSON, SHOP, a_purchase_body

SEGMENTS = [
    {
        "id": "emailable",
        "name": "Says yes to e-mail",
        "description": "members who gave their consent to e-mails",
        "filter": {"fact": "member.consent.email", "value": True},
    },
    {
        "id": "buyers",
        "name": "Buyers",
        "filter": {"fact": "member.purchases_last_days", "days": 30, "op": "gte", "value": 1},
    },
]


def enroll(client, card: str, **attributes: Any) -> str:
    answer = client.post(
        f"{SHOP}/members",
        json={"identities": [{"kind": "card", "value": card}], "attributes": attributes},
    )
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def publish_segments(client, segments: list[dict[str, Any]]) -> None:
    saved = client.put(
        f"{SHOP}/definition/draft", json={"settings": {}, "rules": [], "segments": segments}
    )
    assert saved.status_code == 200, saved.json
    assert client.post(f"{SHOP}/definition/publish", json={}).status_code == 201


def test_a_marketer_publishes_segments_and_reads_them_with_their_counts(client, ada):
    bea = enroll(client, "5678", consent={"email": True, "sms": False})
    enroll(client, "9012", consent={"email": False})
    publish_segments(client, SEGMENTS)
    assert client.post(f"{SHOP}/purchases", json=a_purchase_body("card:1234")).status_code == 201

    listing = client.get(f"{SHOP}/segments")
    one = client.get(f"{SHOP}/segments/emailable")
    members = client.get(f"{SHOP}/segments/emailable/members")

    assert listing.status_code == one.status_code == members.status_code == 200
    assert listing.json["version"] == 2
    assert [(s["id"], s["members"]) for s in listing.json["segments"]] == [
        ("emailable", 1),
        ("buyers", 1),
    ]
    assert one.json["filter"] == SEGMENTS[0]["filter"]
    assert one.json["description"] == SEGMENTS[0]["description"]
    assert members.json["members"] == [{"member_id": bea, "status": "active", "tier": None}]
    assert members.json["next_cursor"] is None


def test_members_are_paged_with_a_cursor_within_the_page_size_limits(client, ada, settings):
    for card in ("1111", "2222", "3333", "4444"):
        enroll(client, card)
    publish_segments(
        client,
        [{"id": "all", "name": "All", "filter": {"fact": "member.status", "value": "active"}}],
    )

    seen: list[str] = []
    url = f"{SHOP}/segments/all/members?limit=2"
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.json
        seen += [m["member_id"] for m in page.json["members"]]
        cursor = page.json["next_cursor"]
        url = f"{SHOP}/segments/all/members?limit=2&cursor={cursor}" if cursor else ""

    too_many = client.get(f"{SHOP}/segments/all/members?limit={settings.page_size_max + 1}")
    forged = client.get(f"{SHOP}/segments/all/members?cursor=bm90LW91cnM")
    assert len(seen) == len(set(seen)) == 5
    assert too_many.status_code == forged.status_code == 422
    assert too_many.json["errors"][0]["field"] == "limit"
    assert forged.json["errors"][0]["field"] == "cursor"


def test_an_older_version_is_read_with_version_and_unknown_ones_are_404(client, ada):
    publish_segments(client, SEGMENTS)
    publish_segments(client, SEGMENTS[1:])

    assert client.get(f"{SHOP}/segments/emailable?version=2").status_code == 200
    gone = client.get(f"{SHOP}/segments/emailable")
    no_version = client.get(f"{SHOP}/segments?version=7")
    assert gone.status_code == no_version.status_code == 404
    assert gone.mimetype == PROBLEM_JSON
    assert gone.json["type"] == "/problems/segment-not-found"
    assert no_version.json["type"] == "/problems/version-not-found"
    assert client.get(f"{SHOP}/segments?version=0").status_code == 422


def test_a_segment_mistake_is_refused_at_its_path_and_nothing_is_kept(client, ada):
    answer = client.put(
        f"{SHOP}/definition/draft",
        json={
            "settings": {},
            "segments": [
                {
                    "id": "s",
                    "name": "S",
                    "filter": {
                        "all": [
                            {"fact": "member.status", "value": "active"},
                            {
                                "fact": "member.purchases_last_days",
                                "op": "gte",
                                "value": "2",
                                "days": 7,
                            },
                        ]
                    },
                }
            ],
        },
    )

    assert answer.status_code == 422
    assert answer.json["errors"] == [
        {
            "field": "segments[0].filter.all[1].value",
            "pointer": "#/segments/0/filter/all/1/value",
            "detail": "expected a number",
        }
    ]
    assert client.get(f"{SHOP}/definition/draft").json["saved"] is False


def test_consent_is_an_object_of_purposes_and_true_or_false(client, ada):
    wrong = client.post(
        f"{SHOP}/members",
        json={
            "identities": [{"kind": "card", "value": "7777"}],
            "attributes": {"consent": {"email": "yes"}},
        },
    )
    nested = client.post(
        f"{SHOP}/members",
        json={
            "identities": [{"kind": "card", "value": "7778"}],
            "attributes": {"preferences": {"colour": "red"}},
        },
    )

    assert wrong.status_code == nested.status_code == 422
    assert wrong.json["errors"][0]["field"] == "attributes.consent"
    assert nested.json["errors"][0]["field"] == "attributes.preferences"


def test_segments_are_for_marketers(client, ctx, ada):
    publish_segments(client, SEGMENTS)
    marketer = create_key(ctx, CreateKey("m", ("marketer",), "shop"), Actor("cli:t")).secret
    checkout = create_key(ctx, CreateKey("c", ("checkout",), "shop"), Actor("cli:t")).secret

    def status(secret: str) -> int:
        return client.get(
            f"{SHOP}/segments/buyers/members", headers={"Authorization": f"Bearer {secret}"}
        ).status_code

    assert status(marketer) == 200
    assert status(checkout) == 403


def test_the_command_line_lists_segments_and_their_members(client, ada, settings, monkeypatch):
    publish_segments(client, SEGMENTS)
    bea = enroll(client, "5678", consent={"email": True})
    monkeypatch.setenv("LOYALTY_DATABASE_URL", settings.database_url)
    runner = CliRunner()

    listed = runner.invoke(main, ["segments", "list", "--program", "shop"])
    members = runner.invoke(
        main, ["segments", "members", "--program", "shop", "emailable", "--page-size", "1"]
    )
    missing = runner.invoke(main, ["segments", "members", "--program", "shop", "nobody"])

    assert listed.exit_code == 0, listed.output
    assert "emailable\t1\tSays yes to e-mail" in listed.output
    assert "buyers\t0\tBuyers" in listed.output
    assert members.exit_code == 0, members.output
    assert members.output.splitlines() == [f"{bea}\tactive\t-"]
    assert missing.exit_code == 1
    assert "no segment 'nobody'" in missing.output
