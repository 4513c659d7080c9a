"""Webhook delivery against a real database and a real HTTP receiver on 127.0.0.1, which checks
every signature itself: signing, retries with exponential backoff, order per member, the dead
letter and replays, event-type filters, endpoints created later, and two jobs at once.

The program "shop" earns 1 point per EUR. Unless a test says otherwise the clock is frozen at
``NOW`` (10 March 2026, 12:00 UTC) and moved by hand; deliveries retry after 30 s, doubling,
and die after 4 failed attempts.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier

import pytest
from click.testing import CliRunner
from freezegun import freeze_time
from sqlalchemy import func, select

from api.cli import main
from loyalty.adapters.orm import DomainEventRow, WebhookDeliveryRow
from loyalty.adapters.webhook_sender import send
from loyalty.domain.errors import Conflict, InvalidRequest, WebhookNotFound
from loyalty.domain.members import Member
from loyalty.domain.webhooks import SendResult
from loyalty.services.access import Actor
from loyalty.services.points import DebitPoints, debit_points
from loyalty.services.webhooks import (
    CreateEndpoint,
    DeliveryPolicy,
    DeliveryReport,
    create_endpoint,
    deliver_webhooks,
    list_deliveries,
    replay_deliveries,
    replay_delivery,
    update_endpoint,
)
from tests.builders import a_member, a_program, earn
from tests.webhook_receiver import Receiver, a_receiver, signature_is_valid

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ADMIN = Actor("key:admin1")
POLICY = DeliveryPolicy(
    max_attempts=4, backoff_seconds=30, backoff_max_seconds=600, timeout_seconds=5
)


@pytest.fixture
def clock():
    with freeze_time(NOW) as frozen:
        yield frozen


@pytest.fixture
def receiver():
    with a_receiver() as running:
        yield running


def subscribe(ctx, receiver: Receiver, *types: str, program_id: str = "shop") -> str:
    """A webhook endpoint of ``program_id`` pointing at ``receiver``, which learns its secret."""
    created = create_endpoint(ctx, CreateEndpoint(program_id, receiver.url, types), ADMIN)
    receiver.secret = created.secret
    return created.endpoint.endpoint_id


def deliver(ctx, policy: DeliveryPolicy = POLICY, **options) -> DeliveryReport:
    return deliver_webhooks(ctx, send=send, policy=policy, **options)


def statuses(ctx, endpoint_id: str) -> list[tuple[str, str | None, str, int]]:
    """(event type, member, status, attempts) of the endpoint's deliveries, oldest first."""
    page = list_deliveries(ctx, "shop", endpoint_id, limit=200)
    return [(d.event_type, d.member_id, d.status, d.attempts) for d in reversed(page.deliveries)]


def failing_for(member: Member, receiver: Receiver, status: int = 503) -> None:
    """The receiver answers ``status`` to every message about ``member``, 200 to others."""
    receiver.answer = lambda m: status if m.data.get("member_id") == member.id else 200


# -- signing ------------------------------------------------------------------------------------


def test_an_event_reaches_the_endpoint_signed_the_standard_webhooks_way(ctx, clock, receiver):
    a_program(ctx)
    ada = a_member(ctx)
    endpoint = subscribe(ctx, receiver)
    purchase = earn(ctx, ada, 42)

    report = deliver(ctx)

    assert (report.events, report.deliveries, report.delivered) == (1, 1, 1)
    [message] = receiver.messages()
    assert message.verified
    with ctx.uow(read_only=True) as uow:
        event_id = uow.session.scalar(select(func.max(DomainEventRow.id)))
        [entry] = uow.ledger.entries(ada.id, before_id=None, limit=1)
    assert message.id == f"msg_{event_id}"
    assert message.timestamp == int(NOW.timestamp())
    assert message.message["type"] == "points.earned"
    assert message.message["timestamp"] == NOW.isoformat()
    assert message.data == {
        "program_id": "shop",
        "member_id": ada.id,
        "points": 42,
        "status": "available",
        "available_at": None,
        "expires_at": None,
        "purchase_id": purchase.purchase_id,
        "event_id": None,
        "entry_id": entry.id,
        "program_version": 1,
        "rules": ["base-rate"],
        "debt_paid": 0,
        "reason": f"earned 42 on order {purchase.external_id}",
        "balance": {"available": 42, "pending": 0},
    }
    assert statuses(ctx, endpoint) == [("points.earned", ada.id, "delivered", 1)]
    assert deliver(ctx).attempts == 0  # delivered once, never again


def test_the_receiver_refuses_a_tampered_message_and_a_wrong_secret_fails_the_delivery(
    ctx, clock, receiver
):
    a_program(ctx)
    ada = a_member(ctx)
    endpoint = subscribe(ctx, receiver)
    earn(ctx, ada, 10)
    deliver(ctx)
    [genuine] = receiver.messages()
    tampered = genuine.body.replace(b'"points":10', b'"points":99999')
    assert tampered != genuine.body

    def post(body: bytes, signature: str, timestamp: int) -> int:
        request = urllib.request.Request(
            receiver.url,
            data=body,
            method="POST",
            headers={
                "webhook-id": genuine.id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": signature,
                "content-type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    assert post(genuine.body, genuine.signature, genuine.timestamp) == 200  # a duplicate
    assert post(tampered, genuine.signature, genuine.timestamp) == 401
    assert post(genuine.body, "v1," + "A" * 44, genuine.timestamp) == 401
    assert post(genuine.body, genuine.signature, genuine.timestamp + 1) == 401
    assert not signature_is_valid(
        receiver.secret,
        genuine.id,
        str(genuine.timestamp),
        genuine.body,
        genuine.signature,
        now=genuine.timestamp + 301,
    )  # too old: a replay

    receiver.secret = "whsec_" + "A" * 44  # the receiver holds another secret
    earn(ctx, ada, 5)
    report = deliver(ctx)
    assert (report.delivered, report.failed) == (0, 1)
    [refused] = list_deliveries(ctx, "shop", endpoint, status="pending").deliveries
    assert (refused.last_status, refused.last_error) == (401, "HTTP 401 Unauthorized")


# -- retries, order, dead letter, replay ---------------------------------------------------------


def test_a_failed_delivery_is_retried_with_exponential_backoff_until_it_is_accepted(
    ctx, clock, receiver
):
    a_program(ctx)
    ada = a_member(ctx)
    endpoint = subscribe(ctx, receiver)
    earn(ctx, ada, 10)
    answers = iter([500, 502])
    receiver.answer = lambda message: next(answers, 200)

    assert deliver(ctx).failed == 1
    [pending] = list_deliveries(ctx, "shop", endpoint).deliveries
    assert (pending.attempts, pending.last_status, pending.next_attempt_at) == (
        1,
        500,
        NOW + timedelta(seconds=30),
    )
    clock.tick(timedelta(seconds=29))
    assert deliver(ctx).attempts == 0  # not due yet
    clock.tick(timedelta(seconds=1))
    assert deliver(ctx).failed == 1
    [pending] = list_deliveries(ctx, "shop", endpoint).deliveries
    assert pending.next_attempt_at == NOW + timedelta(seconds=30 + 60)  # doubled
    clock.tick(timedelta(seconds=59))
    assert deliver(ctx).attempts == 0
    clock.tick(timedelta(seconds=1))
    assert deliver(ctx).delivered == 1

    sent = receiver.messages(status=None)
    assert [m.answered for m in sent] == [500, 502, 200]
    assert len({m.id for m in sent}) == 1  # one message id on every attempt
    assert len({m.body for m in sent}) == 1  # the same body
    assert [m.timestamp - sent[0].timestamp for m in sent] == [0, 30, 90]  # signed anew
    assert all(m.verified for m in sent)
    assert statuses(ctx, endpoint) == [("points.earned", ada.id, "delivered", 3)]


def test_the_backoff_is_capped(ctx, clock, receiver):
    a_program(ctx)
    endpoint = subscribe(ctx, receiver)
    earn(ctx, a_member(ctx), 10)
    receiver.answer = lambda message: 500
    policy = DeliveryPolicy(max_attempts=10, backoff_seconds=30, backoff_max_seconds=100)
    waits = []
    for _ in range(4):
        before = datetime.now(UTC)
        deliver(ctx, policy)
        [pending] = list_deliveries(ctx, "shop", endpoint).deliveries
        waits.append((pending.next_attempt_at - before).total_seconds())
        clock.move_to(pending.next_attempt_at)
    assert waits == [30, 60, 100, 100]


def test_a_members_failing_event_holds_its_later_events_while_other_members_proceed(
    ctx, clock, receiver
):
    a_program(ctx)
    ada, bob = a_member(ctx), a_member(ctx)
    endpoint = subscribe(ctx, receiver)
    earn(ctx, ada, 1)
    earn(ctx, ada, 2)
    earn(ctx, bob, 3)
    earn(ctx, ada, 4)
    failing_for(ada, receiver)

    report = deliver(ctx)

    assert (report.delivered, report.failed) == (1, 1)
    assert [(m.data["member_id"], m.data["points"]) for m in receiver.messages()] == [(bob.id, 3)]
    assert statuses(ctx, endpoint) == [
        ("points.earned", ada.id, "pending", 1),  # failed once
        ("points.earned", ada.id, "pending", 0),  # held: never tried
        ("points.earned", bob.id, "delivered", 1),
        ("points.earned", ada.id, "pending", 0),
    ]

    receiver.answer = lambda message: 200
    earn(ctx, bob, 5)
    clock.tick(timedelta(seconds=30))
    deliver(ctx)
    assert [(m.data["member_id"], m.data["points"]) for m in receiver.messages()] == [
        (bob.id, 3),
        (ada.id, 1),
        (bob.id, 5),
        (ada.id, 2),
        (ada.id, 4),
    ]
    assert {status for _, _, status, _ in statuses(ctx, endpoint)} == {"delivered"}


def test_after_the_last_allowed_failure_a_delivery_is_dead_and_holds_nothing(ctx, clock, receiver):
    a_program(ctx)
    ada = a_member(ctx)
    endpoint = subscribe(ctx, receiver)
    earn(ctx, ada, 1)
    earn(ctx, ada, 2)
    receiver.answer = lambda m: 500 if m.data["points"] == 1 else 200

    reports = []
    for _ in range(4):
        reports.append(deliver(ctx))
        clock.tick(timedelta(minutes=10))

    assert [(r.failed, r.dead, r.delivered) for r in reports] == [
        (1, 0, 0),
        (1, 0, 0),
        (1, 0, 0),
        (0, 1, 1),
    ]  # then the next event goes
    assert statuses(ctx, endpoint) == [
        ("points.earned", ada.id, "dead", 4),
        ("points.earned", ada.id, "delivered", 1),
    ]
    [dead] = list_deliveries(ctx, "shop", endpoint, status="dead").deliveries
    assert (dead.last_status, dead.next_attempt_at) == (500, None)
    assert deliver(ctx).attempts == 0  # the dead are left alone


def test_replay_sends_the_dead_deliveries_again(ctx, clock, receiver):
    a_program(ctx)
    ada, bob = a_member(ctx), a_member(ctx)
    endpoint = subscribe(ctx, receiver)
    earn(ctx, ada, 1)
    clock.tick(timedelta(days=1))
    earn(ctx, bob, 2)
    receiver.answer = lambda message: 503
    for _ in range(4):
        deliver(ctx)
        clock.tick(timedelta(minutes=10))
    assert [s for _, _, s, _ in statuses(ctx, endpoint)] == ["dead", "dead"]
    receiver.answer = lambda message: 200

    # only the events recorded on the second day
    second_day = NOW + timedelta(days=1)
    replayed = replay_deliveries(
        ctx, "shop", endpoint, ADMIN, since=second_day, until=second_day + timedelta(days=1)
    )
    assert replayed.replayed == 1
    assert deliver(ctx).delivered == 1
    assert replay_deliveries(ctx, "shop", endpoint, ADMIN).replayed == 1  # the rest
    assert deliver(ctx).delivered == 1
    assert [m.data["points"] for m in receiver.messages()] == [2, 1]
    assert statuses(ctx, endpoint) == [
        ("points.earned", ada.id, "delivered", 1),
        ("points.earned", bob.id, "delivered", 1),
    ]

    # one delivered delivery, sent again (the receiver lost it)
    first = list_deliveries(ctx, "shop", endpoint).deliveries[-1]
    assert replay_delivery(ctx, "shop", endpoint, first.delivery_id, ADMIN).status == "pending"
    with pytest.raises(Conflict):
        replay_delivery(ctx, "shop", endpoint, first.delivery_id, ADMIN)
    assert deliver(ctx).delivered == 1
    assert [m.data["points"] for m in receiver.messages()] == [2, 1, 1]
    assert len({m.id for m in receiver.messages() if m.data["points"] == 1}) == 1


# -- what goes where ----------------------------------------------------------------------------


def test_an_endpoint_gets_only_the_event_types_it_subscribed_to(ctx, clock, receiver):
    a_program(ctx)
    ada = a_member(ctx)
    endpoint = subscribe(ctx, receiver, "points.redeemed")
    earn(ctx, ada, 50)
    debit_points(ctx, DebitPoints("shop", ada.id, 20, "D-1"))

    assert deliver(ctx).delivered == 1
    assert receiver.types() == ["points.redeemed"]
    assert receiver.messages()[0].data["balance"] == {"available": 30, "pending": 0}
    assert statuses(ctx, endpoint) == [("points.redeemed", ada.id, "delivered", 1)]

    update_endpoint(ctx, "shop", endpoint, ADMIN, event_types=())  # every type from now on
    earn(ctx, ada, 1)
    deliver(ctx)
    assert receiver.types() == ["points.redeemed", "points.earned"]


def test_an_endpoint_created_later_gets_none_of_the_earlier_events(ctx, clock):
    a_program(ctx)
    ada = a_member(ctx)
    with a_receiver() as early, a_receiver() as late:
        subscribe(ctx, early)
        earn(ctx, ada, 1)
        deliver(ctx)
        earn(ctx, ada, 2)  # recorded, not yet delivered, when the late endpoint comes
        late_endpoint = subscribe(ctx, late)
        earn(ctx, ada, 3)
        deliver(ctx)
        assert [m.data["points"] for m in early.messages()] == [1, 2, 3]
        assert [m.data["points"] for m in late.messages()] == [3]
        assert len(statuses(ctx, late_endpoint)) == 1


def test_an_inactive_endpoint_gets_nothing_and_its_pending_deliveries_wait(ctx, clock, receiver):
    a_program(ctx)
    ada = a_member(ctx)
    endpoint = subscribe(ctx, receiver)
    earn(ctx, ada, 1)
    deliver(ctx, limit=0)  # fanned out, not sent
    update_endpoint(ctx, "shop", endpoint, ADMIN, active=False)
    earn(ctx, ada, 2)
    assert deliver(ctx).attempts == 0

    update_endpoint(ctx, "shop", endpoint, ADMIN, active=True)
    deliver(ctx)
    assert [m.data["points"] for m in receiver.messages()] == [1]  # 2 came while inactive


def test_an_endpoint_of_one_program_gets_none_of_anothers_events(ctx, clock, receiver):
    a_program(ctx)
    a_program(ctx, "other")
    subscribe(ctx, receiver)
    earn(ctx, a_member(ctx, program_id="other"), 5, program_id="other")
    earn(ctx, a_member(ctx), 7)
    deliver(ctx)
    assert [(m.data["program_id"], m.data["points"]) for m in receiver.messages()] == [("shop", 7)]


# -- failures without an answer ------------------------------------------------------------------


def test_a_sender_that_breaks_fails_its_delivery_and_the_others_still_go(ctx, clock):
    a_program(ctx)
    ada, bob = a_member(ctx), a_member(ctx)
    created = create_endpoint(ctx, CreateEndpoint("shop", "https://crm.example.com/hooks"), ADMIN)
    earn(ctx, ada, 1)
    earn(ctx, bob, 2)
    sent: list[tuple[str, dict[str, str]]] = []

    def sender(url: str, body: bytes, headers: dict[str, str], timeout: float) -> SendResult:
        if b'"points":1' in body:
            raise RuntimeError("a bug in the sender")
        sent.append((url, headers))
        return SendResult(204)

    report = deliver_webhooks(ctx, send=sender, policy=POLICY)

    assert (report.failed, report.delivered) == (1, 1)
    assert [(url, headers["webhook-id"][:4]) for url, headers in sent] == [
        ("https://crm.example.com/hooks", "msg_")
    ]
    endpoint = created.endpoint.endpoint_id
    [failed] = list_deliveries(ctx, "shop", endpoint, status="pending").deliveries
    assert failed.last_error == "RuntimeError: a bug in the sender"


def test_a_refused_connection_and_a_timeout_are_failures_to_retry(ctx, clock):
    a_program(ctx)
    ada = a_member(ctx)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    nobody = create_endpoint(ctx, CreateEndpoint("shop", f"http://127.0.0.1:{port}/x"), ADMIN)
    with a_receiver() as slow:
        created = create_endpoint(ctx, CreateEndpoint("shop", slow.url), ADMIN)
        slow.secret, slow.delay = created.secret, 1.0
        earn(ctx, ada, 10)
        report = deliver(ctx, DeliveryPolicy(max_attempts=4, timeout_seconds=0.2))
    assert (report.failed, report.delivered) == (2, 0)
    [refused] = list_deliveries(ctx, "shop", nobody.endpoint.endpoint_id).deliveries
    assert (refused.status, refused.attempts, refused.last_status) == ("pending", 1, None)
    assert "refused" in refused.last_error.lower()
    [timed_out] = list_deliveries(ctx, "shop", created.endpoint.endpoint_id).deliveries
    assert (timed_out.status, timed_out.attempts, timed_out.last_status) == ("pending", 1, None)
    assert "timed out" in timed_out.last_error.lower()


# -- the job in several places, and the endpoints' validation ------------------------------------


def test_two_jobs_running_at_once_send_each_delivery_once(ctx, receiver):
    a_program(ctx)
    members = [a_member(ctx) for _ in range(6)]
    endpoint = subscribe(ctx, receiver)
    for index, member in enumerate(members * 3):
        earn(ctx, member, index + 1)
    receiver.delay = 0.02  # requests overlap with the other job's claims
    start = Barrier(2)

    def job() -> DeliveryReport:
        start.wait()
        return deliver(ctx, batch_size=4)

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: job(), range(2)))

    assert sum(r.delivered for r in reports) == 18
    assert sum(r.deliveries for r in reports) == 18
    ids = [m.id for m in receiver.messages()]
    assert len(ids) == len(set(ids)) == 18
    for member in members:  # in order per member, even with two senders
        points = [m.data["points"] for m in receiver.messages() if m.data["member_id"] == member.id]
        assert points == sorted(points)
    assert {status for _, _, status, _ in statuses(ctx, endpoint)} == {"delivered"}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/hooks", "http:// or https://"),
        ("https://", "names a host"),
        ("https://user:pw@example.com/hooks", "credentials"),
        ("https://example.com/hooks#x", "fragment"),
        ("https://exa mple.com/", "without spaces"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com/" + "a" * 2048, "2048"),
    ],
)
def test_an_endpoint_url_must_be_an_http_url_and_nothing_is_written_otherwise(ctx, url, problem):
    a_program(ctx)
    with pytest.raises(InvalidRequest) as refused:
        create_endpoint(ctx, CreateEndpoint("shop", url), ADMIN)
    assert refused.value.field == "url"
    assert problem in refused.value.detail
    with ctx.uow(read_only=True) as uow:
        assert uow.webhooks.endpoints("shop") == []


def test_an_unknown_event_type_is_refused(ctx):
    a_program(ctx)
    with pytest.raises(InvalidRequest) as refused:
        create_endpoint(
            ctx,
            CreateEndpoint("shop", "https://example.com/h", ("points.earned", "points.eraned")),
            ADMIN,
        )
    assert refused.value.field == "event_types.1"
    with pytest.raises(WebhookNotFound):
        update_endpoint(ctx, "shop", "wh_nope", ADMIN, active=False)


# -- the command line ----------------------------------------------------------------------------


@pytest.fixture
def runner(settings, monkeypatch):
    monkeypatch.setenv("LOYALTY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LOYALTY_WEBHOOK_BACKOFF_SECONDS", "1")
    monkeypatch.setenv("LOYALTY_WEBHOOK_MAX_ATTEMPTS", "1")
    return CliRunner()


def test_the_cli_creates_lists_delivers_and_replays(ctx, runner, receiver):
    a_program(ctx)
    ada = a_member(ctx)
    created = runner.invoke(
        main,
        [
            "webhooks",
            "create",
            "--program",
            "shop",
            "--url",
            receiver.url,
            "--event-type",
            "points.earned",
        ],
    )
    assert created.exit_code == 0, created.output
    receiver.secret = created.output.split()[-1]
    assert receiver.secret.startswith("whsec_")
    endpoint = created.output.split()[3]
    listed = runner.invoke(main, ["webhooks", "list", "--program", "shop"])
    assert (endpoint, "active", receiver.url, "points.earned") == tuple(listed.output.split())
    assert receiver.secret not in listed.output

    earn(ctx, ada, 3)
    receiver.answer = lambda message: 500
    sent = runner.invoke(main, ["jobs", "deliver-webhooks", "--once"])
    assert sent.exit_code == 0, sent.output
    assert "dead 1" in sent.output  # one attempt allowed
    receiver.answer = lambda message: 200
    replayed = runner.invoke(main, ["webhooks", "replay", "--program", "shop", endpoint])
    assert "Replaying 1 delivery" in replayed.output
    sent = runner.invoke(main, ["jobs", "deliver-webhooks", "--once", "--limit", "5"])
    assert "delivered 1" in sent.output
    assert [m.data["points"] for m in receiver.messages()] == [3]
    unknown = runner.invoke(
        main, ["webhooks", "create", "--program", "shop", "--url", "gopher://x"]
    )
    assert unknown.exit_code == 1 and "url:" in unknown.output


def test_deliveries_keep_the_outbox_event_and_the_member(ctx, clock, receiver):
    a_program(ctx)
    ada = a_member(ctx)
    endpoint = subscribe(ctx, receiver)
    earn(ctx, ada, 1)
    deliver(ctx, limit=0)
    with ctx.uow(read_only=True) as uow:
        rows = uow.session.execute(
            select(
                WebhookDeliveryRow.endpoint_id,
                WebhookDeliveryRow.member_id,
                WebhookDeliveryRow.status,
            )
        ).all()
        fanned = uow.session.scalar(
            select(func.count())
            .select_from(DomainEventRow)
            .where(DomainEventRow.delivered_at.is_(None))
        )
    assert [tuple(row) for row in rows] == [(endpoint, ada.id, "pending")]
    assert fanned == 0  # every event fanned out once
