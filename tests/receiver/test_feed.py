"""``GET /events``: the pipeline's feed — paging in seq order, bearer auth, cursor validation."""

from __future__ import annotations

import pytest

from tests.receiver.helpers import InProcessReceiver, bearer, delivery, feed_ids, metric_value


@pytest.fixture
def landed(receiver, secret) -> list[str]:
    ids = []
    for _ in range(7):
        event_id, body, headers = delivery(secret)
        assert receiver.post(body, headers).status_code == 200
        ids.append(event_id)
    return ids


def test_pages_follow_seq_order_with_a_next_cursor(receiver, landed):
    seen, after, pages = [], 0, 0
    while True:
        response = receiver.request("GET", f"/events?after={after}&limit=3", headers=bearer())
        assert response.status_code == 200
        page = response.json()
        seqs = [e["seq"] for e in page["events"]]
        assert seqs == sorted(seqs) and all(s > after for s in seqs)
        seen += feed_ids(page)
        pages += 1
        if not page["has_more"]:
            break
        assert page["next_after"] == seqs[-1]
        after = page["next_after"]
    assert seen == landed
    assert pages == 3
    assert page["latest_seq"] == 7 and page["next_after"] == 7


def test_cursor_past_the_end_returns_an_empty_page_and_keeps_the_cursor(receiver, landed):
    page = receiver.request("GET", "/events?after=7", headers=bearer()).json()
    assert page["events"] == [] and page["next_after"] == 7 and page["has_more"] is False
    page = receiver.request("GET", "/events?after=5&limit=100", headers=bearer()).json()
    assert feed_ids(page) == landed[5:]


def test_feed_events_carry_the_landing_columns(receiver, landed):
    event = receiver.request("GET", "/events?limit=1", headers=bearer()).json()["events"][0]
    assert event["seq"] == 1 and event["event_id"] == landed[0] == event["webhook_id"]
    assert event["event_type"] == "asset.processing.completed"
    assert event["event_timestamp"] == "2026-11-30T12:00:00+00:00"
    assert event["received_at"].endswith("+00:00")


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong-token"), {"authorization": "Basic feed-token-for-tests"}, bearer("")],
    ids=["missing", "wrong", "not-bearer", "empty"],
)
def test_missing_or_wrong_bearer_is_401(receiver, landed, headers):
    response = receiver.request("GET", "/events", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "events" not in response.json()


def test_feed_without_a_configured_token_is_403(tmp_path, secret):
    handle = InProcessReceiver(tmp_path, [secret], feed_token=None)
    try:
        response = handle.request("GET", "/events", headers=bearer())
        assert response.status_code == 403
        assert "MMQ_FEED_TOKEN" in response.json()["error"]
    finally:
        handle.close()


@pytest.mark.parametrize(
    "query",
    [
        "after=-1",
        "after=abc",
        "after=",
        "after=1.5",
        "after=99999999999999999999",
        "after=%EF%BC%91",
        "limit=0",
        "limit=5001",
        "limit=x",
        "limit=-3",
    ],
)
def test_bad_cursor_or_limit_is_400(receiver, landed, query):
    response = receiver.request("GET", f"/events?{query}", headers=bearer())
    assert response.status_code == 400
    assert "after must be" in response.json()["error"]


def test_a_cursor_past_the_end_does_not_hide_the_backlog_from_the_freshness_gauge(receiver, landed):
    gauge = "mmq_receiver_oldest_unfed_event_age_seconds"
    receiver.request("GET", "/events?after=999999", headers=bearer())
    assert metric_value(receiver.metrics(), gauge) > 0  # seq 1..7 were never handed out
    receiver.request("GET", "/events?after=0", headers=bearer())
    assert metric_value(receiver.metrics(), gauge) == 0
