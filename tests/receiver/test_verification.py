"""Standard Webhooks verification: what authenticates, and every way a delivery is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.receiver.helpers import (
    GENERIC_401,
    delivery,
    envelope,
    landed_rows,
    metric_value,
    minutes,
    new_event_id,
    new_secret,
    signed_headers,
)

REJECTED = "mmq_receiver_requests_rejected_total"


def rejected(receiver, cause: str) -> float:
    return metric_value(receiver.metrics(), REJECTED, f'cause="{cause}"')


def test_valid_signature_is_landed_and_acked(receiver, secret):
    event_id, body, headers = delivery(secret)
    response = receiver.post(body, headers)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "event_id": event_id}
    page = receiver.request(
        "GET", "/events", headers={"authorization": "Bearer feed-token-for-tests"}
    )
    assert [e["event_id"] for e in page.json()["events"]] == [event_id]
    assert page.json()["events"][0]["body"].encode() == body  # raw bytes, not re-serialised


def test_several_signatures_with_one_valid(receiver, secret):
    event_id, body, headers = delivery(secret)
    forged = signed_headers(new_secret(), body, event_id)["webhook-signature"]
    headers["webhook-signature"] = f"{forged} v1,AAAA {headers['webhook-signature']} v1a,zzzz"
    assert receiver.post(body, headers).status_code == 200


def test_either_of_two_configured_secrets_verifies(receiver, secret, next_secret):
    for key in (secret, next_secret):
        _, body, headers = delivery(key)
        assert receiver.post(body, headers).status_code == 200
    assert metric_value(receiver.metrics(), "mmq_receiver_events_accepted_total") == 2


def test_tampered_body_is_refused_and_not_landed(receiver, secret):
    _, body, headers = delivery(secret)
    tampered = body.replace(b"asset.processing.completed", b"asset.processing.failed")
    response = receiver.post(tampered, headers)
    assert (response.status_code, response.content) == (401, GENERIC_401)
    assert rejected(receiver, "verification_failed") == 1
    assert metric_value(receiver.metrics(), "mmq_receiver_events_accepted_total") == 0


def test_unknown_secret_is_refused(receiver):
    _, body, headers = delivery(new_secret())
    response = receiver.post(body, headers)
    assert (response.status_code, response.content) == (401, GENERIC_401)
    assert rejected(receiver, "verification_failed") == 1


@pytest.mark.parametrize("offset", [-6, 6, -60 * 24 * 3], ids=["6min-old", "6min-future", "3d-old"])
def test_stale_or_future_timestamp_is_refused(receiver, secret, offset):
    event_id = new_event_id()
    body = envelope(event_id)
    headers = signed_headers(secret, body, event_id, at=datetime.now(UTC) + minutes(offset))
    response = receiver.post(body, headers)
    assert (response.status_code, response.content) == (401, GENERIC_401)
    assert rejected(receiver, "stale_timestamp") == 1


def test_timestamp_within_tolerance_is_accepted(receiver, secret):
    event_id = new_event_id()
    body = envelope(event_id)
    headers = signed_headers(secret, body, event_id, at=datetime.now(UTC) - minutes(4))
    assert receiver.post(body, headers).status_code == 200


MALFORMED = {
    "no webhook-id": lambda h: h.pop("webhook-id"),
    "no webhook-timestamp": lambda h: h.pop("webhook-timestamp"),
    "no webhook-signature": lambda h: h.pop("webhook-signature"),
    "empty signature": lambda h: h.update({"webhook-signature": ""}),
    "signature without v1": lambda h: h.update({"webhook-signature": "v2,abc"}),
    "signature without comma": lambda h: h.update({"webhook-signature": "v1" + "x" * 40}),
    "timestamp not digits": lambda h: h.update({"webhook-timestamp": "1e9"}),
    "timestamp negative": lambda h: h.update({"webhook-timestamp": "-17"}),
    "timestamp huge": lambda h: h.update({"webhook-timestamp": "9" * 40}),
    "id too long": lambda h: h.update({"webhook-id": "m" * 300}),
    "id not ascii": lambda h: h.update({"webhook-id": "msg_é"}),
    "signature too long": lambda h: h.update({"webhook-signature": "v1,AAAA " * 1000}),
}


@pytest.mark.parametrize("breakage", MALFORMED.values(), ids=MALFORMED.keys())
def test_missing_or_malformed_headers_are_refused_as_unparseable(receiver, secret, breakage):
    _, body, headers = delivery(secret)
    breakage(headers)
    encoded = {k: v.encode("utf-8") for k, v in headers.items()}  # raw bytes, even non-ASCII
    response = receiver.post(body, encoded)
    assert (response.status_code, response.content) == (401, GENERIC_401)
    counts = receiver.metrics()
    assert metric_value(counts, REJECTED, 'cause="unparseable"') == 1
    assert metric_value(counts, REJECTED, 'cause="verification_failed"') == 0


def test_repeated_webhook_header_is_refused(receiver, secret):
    _, body, headers = delivery(secret)
    raw = [(k, v) for k, v in headers.items()] + [("webhook-id", "evt_other")]
    response = receiver.post(body, raw)
    assert response.status_code == 401
    assert rejected(receiver, "unparseable") == 1


def test_refusals_never_land_anything(tmp_path, secret, next_secret):
    from tests.receiver.helpers import FEED_TOKEN, InProcessReceiver

    handle = InProcessReceiver(tmp_path, [secret, next_secret], feed_token=FEED_TOKEN)
    try:
        _, body, headers = delivery(new_secret())
        assert handle.post(body, headers).status_code == 401
        _, body, headers = delivery(secret)
        headers["webhook-timestamp"] = "12"
        assert handle.post(body, headers).status_code == 401
    finally:
        handle.close()
    assert landed_rows(tmp_path / "landing.duckdb") == []
