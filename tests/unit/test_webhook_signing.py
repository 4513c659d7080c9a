"""Signing webhooks the Standard Webhooks way, backoff, and what an endpoint may be. Pure."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from loyalty.domain.business_events import known_event_types
from loyalty.domain.errors import InvalidRequest
from loyalty.domain.webhooks import (
    SendResult,
    backoff,
    body,
    check_event_types,
    check_url,
    event_id_of,
    headers,
    new_secret,
    signature,
    verify,
)

# The example of the Standard Webhooks specification's reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TIMESTAMP = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_is_the_specifications_own_example():
    assert signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_a_secret_is_whsec_and_32_random_bytes_in_base64():
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_a_receiver_accepts_the_genuine_message_and_refuses_any_change():
    sent_at = datetime(2021, 2, 25, 15, 2, 10, tzinfo=UTC)
    stamp = int(sent_at.timestamp())
    genuine = headers(SPEC_SECRET, SPEC_ID, stamp, SPEC_BODY)
    assert genuine["webhook-id"] == SPEC_ID and genuine["webhook-timestamp"] == str(stamp)
    assert verify(SPEC_SECRET, genuine, SPEC_BODY, sent_at)
    assert verify(SPEC_SECRET, genuine, SPEC_BODY, sent_at + timedelta(minutes=5))
    assert not verify(SPEC_SECRET, genuine, SPEC_BODY + b" ", sent_at)
    assert not verify(new_secret(), genuine, SPEC_BODY, sent_at)
    assert not verify(SPEC_SECRET, genuine | {"webhook-id": "msg_other"}, SPEC_BODY, sent_at)
    assert not verify(
        SPEC_SECRET, genuine | {"webhook-timestamp": str(stamp + 1)}, SPEC_BODY, sent_at
    )
    assert not verify(SPEC_SECRET, genuine, SPEC_BODY, sent_at + timedelta(minutes=5, seconds=1))
    assert not verify(SPEC_SECRET, genuine | {"webhook-timestamp": "soon"}, SPEC_BODY, sent_at)
    # several signatures (a rotated secret): one match is enough
    both = genuine | {"webhook-signature": "v1,bm9wZQ== " + genuine["webhook-signature"]}
    assert verify(SPEC_SECRET, both, SPEC_BODY, sent_at)


def test_the_body_is_type_timestamp_and_data_in_compact_json():
    occurred = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert (
        body("points.earned", occurred, {"points": 5, "note": "é"})
        == (
            '{"type":"points.earned","timestamp":"2026-03-10T12:00:00+00:00",'
            '"data":{"points":5,"note":"é"}}'
        ).encode()
    )


def test_message_ids_name_outbox_events():
    assert event_id_of("msg_42") == 42
    for other in ("42", "msg_", "msg_4x", "msg_-1", "msg_" + "9" * 19, "msg_٣"):
        assert event_id_of(other) is None


@pytest.mark.parametrize(
    ("failures", "seconds"), [(1, 30), (2, 60), (3, 120), (4, 240), (9, 3600), (60, 3600)]
)
def test_the_wait_doubles_after_each_failure_up_to_the_cap(failures, seconds):
    assert backoff(failures, 30, 3600) == timedelta(seconds=seconds)


def test_a_2xx_answer_is_a_delivery_and_nothing_else_is():
    assert [SendResult(status).ok for status in (200, 204, 299)] == [True] * 3
    assert [SendResult(status).ok for status in (None, 100, 301, 404, 500)] == [False] * 5


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "https://crm.example.com",
        "https://crm.example.com/in?source=loyalty&v=2",
        "http://[::1]:9000/x",
    ],
)
def test_http_and_https_urls_are_endpoints(url):
    assert check_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "crm.example.com/hooks",
        "mailto:ops@example.com",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https:///x",
        "http://a:b@example.com",
        "http://example.com:0/",
        "http://example.com/\x00",
        "https://exämple.com/",
        "http://example.com/#frag",
        "http://[::1/",
    ],
)
def test_anything_else_is_refused_naming_the_url(url):
    with pytest.raises(InvalidRequest) as refused:
        check_url(url)
    assert refused.value.field == "url"


def test_event_types_are_known_ones_sorted_once_each():
    known = known_event_types()
    assert {
        "points.earned",
        "points.redeemed",
        "points.expired",
        "points.reversed",
        "tier.upgraded",
        "tier.downgraded",
        "voucher.issued",
        "voucher.consumed",
        "member.merged",
        "member.erased",
        "notice.points_expiring",
    } <= set(known)
    assert check_event_types(["points.redeemed", "points.earned", "points.redeemed"], known) == (
        "points.earned",
        "points.redeemed",
    )
    assert check_event_types([], known) == ()
    with pytest.raises(InvalidRequest) as refused:
        check_event_types(["points.earned", "points.*"], known)
    assert refused.value.field == "event_types.1"
