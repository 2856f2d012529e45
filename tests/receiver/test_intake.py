"""HTTP semantics of the intake on a real in-process app and DuckDB file: limits, methods,
content types, flags, duplicates, health, metrics, and 503 when the store cannot commit."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.receiver.helpers import (
    FEED_TOKEN,
    InProcessReceiver,
    bearer,
    delivery,
    landed_rows,
    metric_value,
    new_event_id,
    signed_headers,
)

REJECTED = "mmq_receiver_requests_rejected_total"


def test_body_over_the_limit_is_413_by_content_length(receiver, secret):
    limit = receiver.settings.receiver_max_body_bytes
    _, body, headers = delivery(secret, pad=limit)
    response = receiver.post(body, headers)
    assert response.status_code == 413
    assert metric_value(receiver.metrics(), REJECTED, 'cause="too_large"') == 1


def test_chunked_body_over_the_limit_is_413_while_streaming(receiver, secret):
    limit = receiver.settings.receiver_max_body_bytes
    _, body, headers = delivery(secret, pad=limit)

    async def chunks():
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = receiver.request("POST", "/webhooks/integrations", content=chunks(), headers=headers)
    assert response.status_code == 413


def test_body_at_the_limit_is_accepted(receiver, secret):
    limit = receiver.settings.receiver_max_body_bytes
    event_id, body, headers = delivery(secret, pad=limit - 300)
    body = body[:-2] + b" " * (limit - len(body)) + body[-2:]  # exactly the limit, still JSON
    headers = signed_headers(secret, body, event_id)
    assert len(body) == limit
    assert receiver.post(body, headers).status_code == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "HEAD"])
def test_other_methods_are_405(receiver, method):
    response = receiver.request(method, "/webhooks/integrations")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert metric_value(receiver.metrics(), REJECTED, 'cause="unsupported_method"') == 1


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_415(receiver, secret, content_type):
    _, body, headers = delivery(secret)
    del headers["content-type"]
    if content_type:
        headers["content-type"] = content_type
    assert receiver.post(body, headers).status_code == 415
    assert metric_value(receiver.metrics(), REJECTED, 'cause="unsupported_content_type"') == 1


def test_json_content_type_with_charset_is_accepted(receiver, secret):
    _, body, headers = delivery(secret)
    headers["content-type"] = "Application/JSON; charset=utf-8"
    assert receiver.post(body, headers).status_code == 200


def test_unparseable_unknown_and_test_events_are_landed_flagged_and_acked(receiver, secret):
    cases = {}
    raw_id = new_event_id()
    cases["not json"] = (
        raw_id,
        b"{not json at all",
        signed_headers(secret, b"{not json at all", raw_id),
    )
    for name, kwargs in {
        "unknown": {"event_type": "asset.archived"},
        "test": {"test": True},
        "known": {},
    }.items():
        cases[name] = delivery(secret, **kwargs)
    for name, (_, body, headers) in cases.items():
        assert receiver.post(body, headers).status_code == 200, name
    page = receiver.request("GET", "/events", headers=bearer()).json()
    flags = {
        e["event_id"]: (e["is_parseable"], e["is_known_type"], e["is_test"]) for e in page["events"]
    }
    assert flags == {
        cases["not json"][0]: (False, False, False),
        cases["unknown"][0]: (True, False, False),
        cases["test"][0]: (True, True, True),
        cases["known"][0]: (True, True, False),
    }
    counts = receiver.metrics()
    assert metric_value(counts, "mmq_receiver_events_accepted_total") == 4
    assert metric_value(counts, "mmq_receiver_events_unparseable_total") == 1
    assert metric_value(counts, "mmq_receiver_events_unknown_type_total") == 1
    assert metric_value(counts, "mmq_receiver_events_test_total") == 1


def test_concurrent_duplicates_land_once_and_all_get_2xx(receiver, secret):
    event_id, body, _ = delivery(secret)
    # every retry re-signs the same id and body; all arrive in the same instant
    copies = [(body, signed_headers(secret, body, event_id)) for _ in range(20)]
    others = [delivery(secret)[1:] for _ in range(30)]
    responses = receiver.post_many(copies + others)
    assert [r.status_code for r in responses] == [200] * 50
    statuses = [r.json()["status"] for r in responses[:20]]
    assert statuses.count("accepted") == 1 and statuses.count("duplicate") == 19
    page = receiver.request("GET", "/events", headers=bearer()).json()
    assert [e["event_id"] for e in page["events"]].count(event_id) == 1
    assert len(page["events"]) == 31
    assert metric_value(receiver.metrics(), "mmq_receiver_events_duplicate_total") == 19


def test_duplicate_older_than_the_memory_window_is_caught_by_its_digest(
    tmp_path, secret, next_secret
):
    # A window of 2 ids in the writer: the first event is forgotten in memory after five more.
    handle = InProcessReceiver(
        tmp_path, [secret], feed_token=FEED_TOKEN, recent_ids=2, batch_max_ms=2
    )
    try:
        first_id, body, headers = delivery(secret)
        assert handle.post(body, headers).json()["status"] == "accepted"
        for _ in range(5):
            assert handle.post(*delivery(secret)[1:]).json()["status"] == "accepted"
        # the old retry shares its group commit with a new event: only the new one lands
        new_id, new_body, new_headers = delivery(secret)
        retry = (body, signed_headers(secret, body, first_id))
        answers = handle.post_many([retry, (new_body, new_headers)])
        assert [a.json()["status"] for a in answers] == ["duplicate", "accepted"]
    finally:
        handle.close()
    ids = [row[0] for row in landed_rows(tmp_path / "landing.duckdb")]
    assert len(ids) == 7 and ids.count(first_id) == 1 and ids[-1] == new_id


def test_healthz(receiver):
    response = receiver.request("GET", "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "latest_seq": 0}


def test_metrics_exposes_the_documented_series(receiver, secret):
    assert receiver.post(*delivery(secret)[1:]).status_code == 200
    response = receiver.request("GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "mmq_receiver_events_accepted_total",
        "mmq_receiver_events_duplicate_total",
        "mmq_receiver_oldest_unfed_event_age_seconds",
        "mmq_receiver_queued_events",
        "mmq_receiver_latest_seq",
        "mmq_receiver_store_up",
    ):
        metric_value(text, name)  # raises KeyError when absent
    assert metric_value(text, "mmq_receiver_commit_batch_size_count") == 1
    assert metric_value(text, "mmq_receiver_commit_seconds_count") == 1
    for cause in (
        "verification_failed",
        "too_large",
        "unsupported_method",
        "unsupported_content_type",
        "unparseable",
        "store_unavailable",
    ):
        assert metric_value(text, REJECTED, f'cause="{cause}"') == 0
    # the event has not been fed yet, so it has an age; once fed, the gauge drops to 0
    assert metric_value(text, "mmq_receiver_oldest_unfed_event_age_seconds") >= 0
    # that scrape queried the store; it must leave it able to commit (no unfinished result)
    assert receiver.post(*delivery(secret)[1:]).status_code == 200
    receiver.request("GET", "/events", headers=bearer())
    assert metric_value(receiver.metrics(), "mmq_receiver_oldest_unfed_event_age_seconds") == 0
    assert metric_value(receiver.metrics(), "mmq_receiver_store_up") == 1


def test_queue_full_answers_503_with_retry_after_and_loses_no_ack(tmp_path, secret):
    handle = InProcessReceiver(
        tmp_path, [secret], feed_token=FEED_TOKEN, max_queued_events=3, batch_max_ms=50
    )
    try:
        sent = [delivery(secret) for _ in range(12)]
        answers = handle.post_many([(body, headers) for _, body, headers in sent])
        codes = [a.status_code for a in answers]
        assert set(codes) == {200, 503}
        assert all(a.headers["retry-after"] for a in answers if a.status_code == 503)
        refused = [event for event, a in zip(sent, answers, strict=True) if a.status_code == 503]
        for event_id, body, _ in refused:  # the sender retries later: now they land
            assert handle.post(body, signed_headers(secret, body, event_id)).status_code == 200
        assert metric_value(handle.metrics(), REJECTED, 'cause="store_unavailable"') == len(refused)
    finally:
        handle.close()
    landed = [row[0] for row in landed_rows(tmp_path / "landing.duckdb")]
    assert sorted(landed) == sorted(event_id for event_id, _, _ in sent)


def test_broken_store_answers_503_then_recovers(receiver, secret):
    assert receiver.post(*delivery(secret)[1:]).status_code == 200
    # The writer process dies under the receiver (as by the OOM killer).
    writer_pid = receiver.store.writer_pid
    os.kill(writer_pid, signal.SIGKILL)
    event_id, body, headers = delivery(secret)
    response = receiver.post(body, headers)
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert json.loads(response.content) == {"error": "landing store unavailable; retry later"}
    # the store reopens itself; the sender's retry lands
    for _ in range(100):
        retry = receiver.post(body, signed_headers(secret, body, event_id))
        if retry.status_code == 200:
            break
        time.sleep(0.1)
    assert retry.status_code == 200
    assert receiver.store.writer_pid != writer_pid  # a fresh writer reopened the file
    page = receiver.request("GET", "/events", headers=bearer()).json()
    assert [e["seq"] for e in page["events"]] == [1, 2]
    assert page["events"][1]["event_id"] == event_id
