"""Contract §7: signed webhook delivery, retries with the same webhook-id on the contract's
(scaled) schedule, every attempt recorded, and the webhook fault injections."""

from __future__ import annotations

import itertools
import json
from datetime import datetime

import pytest
from standardwebhooks import Webhook

from simulator.config import DEFAULT_RETRY_SCHEDULE, FaultProfile, WebhookFaults
from simulator.testing import new_key, running_simulator
from tests.simulator.helpers import Api
from tests.simulator.sink import WebhookSink

pytestmark = pytest.mark.timeout(60)
BOTH = ["asset.processing.completed", "asset.processing.failed"]


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_completed_event_is_signed_and_thin(fresh_api, sink):
    api = fresh_api
    sub = api.subscribe(sink.url, BOTH)
    created = api.submit_new(2)
    got = sink.wait_for(2)
    status = api.wait_terminal(created["submissionId"])
    counts = {a["assetId"]: a["issueCount"] for a in status["assets"]}
    for received in got:
        # Verification with the library the receiver uses, on the raw bytes.
        payload = Webhook(sub["secret"]).verify(received.body, received.headers)
        assert received.webhook_id == payload["id"]
        assert payload["id"].startswith("evt_")
        assert payload["type"] == "asset.processing.completed"
        assert payload["timestamp"].endswith("Z")
        assert received.headers["webhook-signature"].startswith("v1,")
        assert received.headers["content-type"] == "application/json"
        data = payload["data"]
        assert set(data) == {
            "asset_id",
            "submission_id",
            "workspace_id",
            "status",
            "filename",
            "issue_count",
        }
        assert data["status"] == "completed"
        assert data["submission_id"] == created["submissionId"]
        assert data["workspace_id"] == status["workspaceId"]
        assert data["issue_count"] == counts[data["asset_id"]]
    assert {json.loads(r.body)["data"]["asset_id"] for r in got} == set(counts)


def test_a_wrong_secret_does_not_verify(fresh_api, sink):
    fresh_api.subscribe(sink.url, BOTH)
    fresh_api.submit_new(1)
    (received,) = sink.wait_for(1)
    other = fresh_api.subscribe("https://127.0.0.1:9/x", BOTH)["secret"]
    with pytest.raises(Exception, match="signature"):
        Webhook(other).verify(received.body, received.headers)


def test_failed_event_carries_the_error():
    key = new_key()
    with (
        running_simulator(api_keys=[key], time_scale=0.002, failure_rate=1.0) as sim,
        WebhookSink() as sink,
    ):
        api = Api(sim.base_url, key)
        sub = api.subscribe(sink.url, ["asset.processing.failed"])
        created = api.submit_new(1)
        (received,) = sink.wait_for(1)
        payload = Webhook(sub["secret"]).verify(received.body, received.headers)
        status = api.wait_terminal(created["submissionId"])
        assert payload["type"] == "asset.processing.failed"
        assert payload["data"]["status"] == "failed"
        assert payload["data"]["error_message"] == status["assets"][0]["errorMessage"]
        assert "issue_count" not in payload["data"]


def test_retries_keep_the_webhook_id_and_every_attempt_is_recorded():
    key = new_key()
    scale = 0.002
    with (
        running_simulator(api_keys=[key], time_scale=scale, failure_rate=0.0) as sim,
        WebhookSink(fail_first=2, fail_status=503) as sink,
    ):
        api = Api(sim.base_url, key)
        sub = api.subscribe(sink.url, BOTH)
        api.submit_new(1)
        got = sink.wait_for(3)
        assert len({r.webhook_id for r in got}) == 1
        assert [r.answered for r in got] == [503, 503, 204]
        # Each retry is signed afresh (its own timestamp) and still verifies.
        for received in got:
            Webhook(sub["secret"]).verify(received.body, received.headers)
        assert len({r.body for r in got}) == 1  # byte-identical body
        # The gaps follow the schedule, scaled: at least 5 s and 60 s times the scale.
        gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
        for gap, planned in zip(gaps, DEFAULT_RETRY_SCHEDULE, strict=False):
            assert gap >= planned * scale * 0.9
        attempts = api.wait_attempts(sub["id"], 3)
        assert [a["status"] for a in attempts] == ["SUCCESSFUL", "FAILED", "FAILED"]  # newest 1st
        assert [a["responseStatus"] for a in attempts] == [204, 503, 503]
        assert {a["eventId"] for a in attempts} == {got[0].webhook_id}
        assert len({a["id"] for a in attempts}) == 3
        stamps = [_at(a["createdAt"]) for a in attempts]
        assert stamps == sorted(stamps, reverse=True)
        path = f"/webhooks/subscriptions/{sub['id']}/deliveries"
        failed = api.get(path, params={"status_filter": "FAILED"}).json()
        assert failed["total"] == 2 and all(a["status"] == "FAILED" for a in failed["attempts"])
        newest = api.get(path, params={"limit": 1}).json()
        assert newest == {"attempts": attempts[:1], "total": 1}


def test_retries_stop_after_the_schedule():
    key = new_key()
    schedule = [0.01, 0.01, 0.02]
    with (
        running_simulator(
            api_keys=[key], time_scale=1.0, retry_schedule_seconds=schedule, failure_rate=0.0
        ) as sim,
        WebhookSink(fail_first=-1) as sink,
    ):
        api = Api(sim.base_url, key)
        sub = api.subscribe(sink.url, BOTH)
        api.submit_new(1)
        attempts = api.wait_attempts(sub["id"], len(schedule) + 1)
        sim.wait_idle()
        assert len(api.attempts(sub["id"])) == len(schedule) + 1 == len(sink.received)
        assert all(a["status"] == "FAILED" for a in attempts)
        assert sim.engine.stats["exhausted"] == 1


def test_unreachable_endpoint_attempts_have_no_status():
    key = new_key()
    with running_simulator(
        api_keys=[key], time_scale=1.0, retry_schedule_seconds=[0.01], failure_rate=0.0
    ) as sim:
        api = Api(sim.base_url, key)
        sub = api.subscribe("http://127.0.0.1:9/hook", BOTH)  # nothing listens on port 9
        api.submit_new(1)
        attempts = api.wait_attempts(sub["id"], 2)
        assert [(a["status"], a["responseStatus"]) for a in attempts] == [("FAILED", None)] * 2


def test_retry_of_a_failed_asset_fires_a_new_event():
    key = new_key()
    with (
        running_simulator(
            api_keys=[key], time_scale=0.002, failure_rate=1.0, retryable_share=1.0
        ) as sim,
        WebhookSink() as sink,
    ):
        api = Api(sim.base_url, key)
        api.subscribe(sink.url, BOTH)
        created = api.submit_new(1)
        sid, aid = created["submissionId"], created["assets"][0]["assetId"]
        api.wait_terminal(sid)
        sink.wait_for(1)
        assert api.post(f"/submissions/{sid}/assets/{aid}/retry").status_code == 202
        got = sink.wait_for(2)
        ids = [r.webhook_id for r in got]
        assert len(set(ids)) == 2
        assert {json.loads(r.body)["data"]["asset_id"] for r in got} == {aid}


def test_only_enabled_matching_subscriptions_of_the_workspace_get_events(fresh_api, keys):
    api = fresh_api
    with (
        WebhookSink() as completed,
        WebhookSink() as failed,
        WebhookSink() as off,
        WebhookSink() as foreign,
    ):
        api.subscribe(completed.url, ["asset.processing.completed"])
        api.subscribe(failed.url, ["asset.processing.failed"])
        disabled = api.subscribe(off.url, BOTH)
        api.patch(f"/webhooks/subscriptions/{disabled['id']}", json={"enabled": False})
        Api(api.base_url, keys.live).subscribe(foreign.url, BOTH)  # another workspace
        api.submit_new(3)
        completed.wait_for(3)
        fresh_api.sim.wait_idle()
        assert (len(completed.received), len(failed.received)) == (3, 0)
        assert (len(off.received), len(foreign.received)) == (0, 0)


def test_deleting_a_subscription_stops_its_retries():
    key = new_key()
    with (
        running_simulator(api_keys=[key], time_scale=0.05, failure_rate=0.0) as sim,
        WebhookSink(fail_first=-1) as sink,
    ):
        api = Api(sim.base_url, key)
        sub = api.subscribe(sink.url, BOTH)
        api.submit_new(1)
        sink.wait_for(1)
        assert api.delete(f"/webhooks/subscriptions/{sub['id']}").status_code == 204
        sim.wait_idle(timeout=15)  # the 5 s x 0.05 retry comes up and is abandoned
        assert len(sink.received) == 1
        assert sim.engine.stats["abandoned"] == 1


def _faulty(webhooks: WebhookFaults, **fields):
    key = new_key()
    return key, running_simulator(
        api_keys=[key],
        time_scale=0.002,
        failure_rate=0.0,
        faults=FaultProfile(webhooks=webhooks),
        **fields,
    )


def test_duplicates_share_the_webhook_id():
    key, simulator = _faulty(WebhookFaults(duplicate_rate=1.0))
    with simulator as sim, WebhookSink() as sink:
        api = Api(sim.base_url, key)
        sub = api.subscribe(sink.url, BOTH)
        api.submit_new(3)
        got = sink.wait_for(6)
        sim.wait_idle()
        assert len(sink.received) == 6
        ids = [r.webhook_id for r in got]
        assert all(ids.count(i) == 2 for i in ids)
        for received in got:
            Webhook(sub["secret"]).verify(received.body, received.headers)


def test_dropped_events_are_never_sent_nor_recorded():
    key, simulator = _faulty(WebhookFaults(drop_rate=1.0))
    with simulator as sim, WebhookSink() as sink:
        api = Api(sim.base_url, key)
        sub = api.subscribe(sink.url, BOTH)
        sid = api.submit_new(3)["submissionId"]
        api.wait_terminal(sid)
        sim.wait_idle()
        assert sink.received == []
        assert api.attempts(sub["id"]) == []
        assert sim.engine.stats["dropped"] == 3


def test_injected_attempt_failures_are_recorded_and_retried():
    key, simulator = _faulty(WebhookFaults(fail_rate=1.0), retry_schedule_seconds=[0.01, 0.01])
    with simulator as sim, WebhookSink() as sink:
        api = Api(sim.base_url, key)
        sub = api.subscribe(sink.url, BOTH)
        api.submit_new(1)
        attempts = api.wait_attempts(sub["id"], 3)
        sim.wait_idle()
        assert [(a["status"], a["responseStatus"]) for a in attempts] == [("FAILED", None)] * 3
        assert sink.received == []  # they never reached the receiver
        assert len({a["eventId"] for a in attempts}) == 1


def test_reordered_and_slow_deliveries_all_arrive():
    key, simulator = _faulty(WebhookFaults(reorder_seconds=0.3, slow_seconds=0.05))
    with simulator as sim, WebhookSink() as sink:
        api = Api(sim.base_url, key)
        sub = api.subscribe(sink.url, BOTH)
        created = api.submit_new(8)
        got = sink.wait_for(8)
        assert {json.loads(r.body)["data"]["asset_id"] for r in got} == {
            a["assetId"] for a in created["assets"]
        }
        for received in got:
            Webhook(sub["secret"]).verify(received.body, received.headers)


def test_https_only_unless_insecure_endpoints_are_allowed():
    key = new_key()
    with running_simulator(api_keys=[key], allow_insecure_endpoints=False) as sim:
        api = Api(sim.base_url, key)
        body = {"endpointUrl": "http://127.0.0.1:9/hook", "eventTypes": BOTH}
        assert api.post("/webhooks/subscriptions", json=body).status_code == 422
        assert api.subscribe("https://127.0.0.1:9/hook")["endpointUrl"].startswith("https://")
    with running_simulator(api_keys=[key], allow_insecure_endpoints=True) as sim:
        api = Api(sim.base_url, key)
        assert api.post("/webhooks/subscriptions", json=body).status_code == 201
