"""Contract §6 and §8: subscriptions (one-time secret, pagination, 403/404/422), deliveries
endpoint parameters, sandbox fire and ``POST /health/webhook-test``."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from standardwebhooks import Webhook

from mmq.netutil import free_port
from simulator.testing import new_key, running_simulator
from tests.simulator.helpers import Api
from tests.simulator.sink import WebhookSink

pytestmark = pytest.mark.timeout(60)
BOTH = ["asset.processing.completed", "asset.processing.failed"]


def test_create_returns_the_secret_once(api):
    created = api.subscribe("https://127.0.0.1:9/mmq", BOTH, description="prod receiver")
    assert set(created) == {
        "id",
        "workspaceId",
        "endpointUrl",
        "eventTypes",
        "description",
        "enabled",
        "secret",
        "createdAt",
        "updatedAt",
    }
    assert created["enabled"] is True
    assert created["description"] == "prod receiver"
    assert created["eventTypes"] == BOTH
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) >= 24
    Webhook(created["secret"])  # usable as a Standard Webhooks secret
    sid = created["id"]
    fetched = api.get(f"/webhooks/subscriptions/{sid}").json()
    patched = api.patch(f"/webhooks/subscriptions/{sid}", json={"enabled": False}).json()
    listed = api.get("/webhooks/subscriptions", params={"pageSize": 100}).json()
    for body in (fetched, patched, listed):
        assert created["secret"] not in json.dumps(body)
        assert "secret" not in json.dumps(body)
    assert patched["enabled"] is False
    assert patched["updatedAt"] >= created["updatedAt"]
    assert {k: v for k, v in fetched.items()} == {k: v for k, v in created.items() if k != "secret"}


def test_pagination():
    key = new_key()
    with running_simulator(api_keys=[key], subscription_limit=20) as sim:
        api = Api(sim.base_url, key)
        ids = [api.subscribe(f"https://127.0.0.1:9/{n}")["id"] for n in range(12)]
        pages = [
            api.get("/webhooks/subscriptions", params={"page": p, "pageSize": 5}).json()
            for p in (1, 2, 3, 4)
        ]
        assert [len(p["items"]) for p in pages] == [5, 5, 2, 0]
        for number, page in enumerate(pages, start=1):
            assert (page["page"], page["pageSize"], page["total"], page["totalPages"]) == (
                number,
                5,
                12,
                3,
            )
        assert [s["id"] for p in pages for s in p["items"]] == ids  # creation order, no overlap
        default = api.get("/webhooks/subscriptions").json()
        assert (default["page"], default["pageSize"], len(default["items"])) == (1, 10, 10)
        for params in ({"page": 0}, {"pageSize": 0}, {"pageSize": 101}, {"page": "x"}):
            assert api.get("/webhooks/subscriptions", params=params).status_code == 422, params


def test_subscription_limit_is_422():
    key = new_key()
    with running_simulator(api_keys=[key], subscription_limit=2) as sim:
        api = Api(sim.base_url, key)
        api.subscribe("https://127.0.0.1:9/1")
        api.subscribe("https://127.0.0.1:9/2")
        r = api.post(
            "/webhooks/subscriptions",
            json={"endpointUrl": "https://127.0.0.1:9/3", "eventTypes": BOTH},
        )
        assert r.status_code == 422
        assert "limit" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"endpointUrl": "http://example.com/hook", "eventTypes": BOTH}, "endpointUrl"),
        ({"endpointUrl": "ftp://example.com/hook", "eventTypes": BOTH}, "endpointUrl"),
        ({"endpointUrl": "https://", "eventTypes": BOTH}, "endpointUrl"),
        ({"endpointUrl": "not a url", "eventTypes": BOTH}, "endpointUrl"),
        ({"endpointUrl": "https://127.0.0.1:9/" + "a" * 2083, "eventTypes": BOTH}, "endpointUrl"),
        ({"endpointUrl": "https://127.0.0.1:9", "eventTypes": []}, "eventTypes"),
        ({"endpointUrl": "https://127.0.0.1:9", "eventTypes": ["asset.created"]}, "eventTypes"),
        ({"eventTypes": BOTH}, "endpointUrl"),
    ],
)
def test_create_validation_is_422_https_only(body, field):
    key = new_key()
    with running_simulator(api_keys=[key], allow_insecure_endpoints=False) as sim:
        r = Api(sim.base_url, key).post("/webhooks/subscriptions", json=body)
        assert r.status_code == 422, r.text
        assert field in r.json()["detail"][0]["loc"]


def test_get_patch_delete_and_404(api):
    sub = api.subscribe("https://127.0.0.1:9/x")
    path = f"/webhooks/subscriptions/{sub['id']}"
    assert api.patch(path, json={"enabled": "maybe"}).status_code == 422
    assert api.patch(path, json={}).status_code == 422
    assert api.patch(path, json={"enabled": False}).json()["enabled"] is False
    assert api.patch(path, json={"enabled": True}).json()["enabled"] is True
    r = api.delete(path)
    assert (r.status_code, r.content) == (204, b"")
    for method in ("GET", "PATCH", "DELETE"):
        assert api.http.request(method, path, json={"enabled": True}).status_code == 404
    assert api.get(f"{path}/deliveries").status_code == 404
    assert api.get("/webhooks/subscriptions/no-such-id").status_code == 404


def test_deliveries_parameters(api):
    sub = api.subscribe("https://127.0.0.1:9/d")
    path = f"/webhooks/subscriptions/{sub['id']}/deliveries"
    assert api.get(path).json() == {"attempts": [], "total": 0}
    for params in ({"limit": 0}, {"limit": 201}, {"status_filter": "PENDING"}):
        assert api.get(path, params=params).status_code == 422, params
    assert api.get(path, params={"limit": 200, "status_filter": "FAILED"}).status_code == 200


def test_sandbox_fire(fresh_api, keys, sink):
    api, live_api = fresh_api, Api(fresh_api.base_url, keys.live)
    completed_only = api.subscribe(sink.url, ["asset.processing.completed"])
    failed_only = api.subscribe(sink.url, ["asset.processing.failed"])
    disabled = api.subscribe(sink.url, BOTH)
    api.patch(f"/webhooks/subscriptions/{disabled['id']}", json={"enabled": False})
    created = api.submit_new(3, delay=30)  # still processing: the fire does not wait for it
    sid = created["submissionId"]
    r = api.post(
        "/sandbox/events/fire",
        json={"eventType": "asset.processing.failed", "submissionId": sid},
    )
    assert (r.status_code, r.json()) == (200, {"dispatched": 3})
    got = sink.wait_for(3)
    bodies = [json.loads(g.body) for g in got]
    assert {b["data"]["asset_id"] for b in bodies} == {a["assetId"] for a in created["assets"]}
    for body, received in zip(bodies, got, strict=True):
        assert body["type"] == "asset.processing.failed"
        assert body["data"]["error_message"] == "Sandbox simulated failure"
        assert body["data"]["status"] == "failed"
        Webhook(failed_only["secret"]).verify(received.body, received.headers)
    r = api.post(
        "/sandbox/events/fire",
        json={
            "eventType": "asset.processing.completed",
            "submissionId": sid,
            "errorMessage": "ignored for completed",
        },
    )
    assert r.json() == {"dispatched": 3}
    got = sink.wait_for(6)[3:]
    for received in got:
        Webhook(completed_only["secret"]).verify(received.body, received.headers)
    # Errors: live key 403, unknown submission 404, bad body 422.
    fire = {"eventType": "asset.processing.completed", "submissionId": sid}
    assert live_api.post("/sandbox/events/fire", json=fire).status_code == 403
    unknown = {**fire, "submissionId": "00000000-0000-0000-0000-000000000000"}
    assert api.post("/sandbox/events/fire", json=unknown).status_code == 404
    for bad in ({**fire, "eventType": "asset.created"}, {"eventType": fire["eventType"]}):
        assert api.post("/sandbox/events/fire", json=bad).status_code == 422


def test_fire_custom_error_message(fresh_api, sink):
    api = fresh_api
    sub = api.subscribe(sink.url, BOTH)
    sid = api.submit_new(1, delay=30)["submissionId"]
    api.post(
        "/sandbox/events/fire",
        json={"eventType": "asset.processing.failed", "submissionId": sid, "errorMessage": "boom"},
    )
    (received,) = sink.wait_for(1)
    payload = Webhook(sub["secret"]).verify(received.body, received.headers)
    assert payload["data"]["error_message"] == "boom"


def test_webhook_test_delivers_a_signed_test_event(sim, sink):
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    r = httpx.post(
        f"{sim.base_url}/health/webhook-test", json={"endpointUrl": sink.url, "secret": secret}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["delivered"] is True and body["responseStatus"] == 204
    (received,) = sink.wait_for(1)
    payload = Webhook(secret).verify(received.body, received.headers)
    assert payload["id"] == body["eventId"] == received.webhook_id
    assert payload["type"] == "asset.processing.completed"
    assert payload["data"]["test"] is True


def test_webhook_test_reports_failures(sim):
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    with WebhookSink(fail_first=-1, fail_status=401) as refusing:
        r = httpx.post(
            f"{sim.base_url}/health/webhook-test",
            json={"endpointUrl": refusing.url, "secret": secret},
        )
        assert r.json()["delivered"] is False and r.json()["responseStatus"] == 401
    closed = f"http://127.0.0.1:{free_port()}/hook"
    r = httpx.post(
        f"{sim.base_url}/health/webhook-test", json={"endpointUrl": closed, "secret": secret}
    )
    assert r.status_code == 200
    assert r.json()["delivered"] is False and r.json()["responseStatus"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"endpointUrl": "http://127.0.0.1:1/x", "secret": "not-a-secret"},
        {"endpointUrl": "http://127.0.0.1:1/x", "secret": "whsec_!!!!!!!!!!!!!!!!!!!!"},
        {"endpointUrl": "http://127.0.0.1:1/x", "secret": "whsec_abc"},
        {"endpointUrl": "http://127.0.0.1:1/x", "secret": "whsec_" + "A" * 17},  # bad padding
        {"endpointUrl": "gopher://x", "secret": "whsec_" + "A" * 32},
        {"secret": "whsec_" + "A" * 32},
    ],
)
def test_webhook_test_validation(sim, body):
    r = httpx.post(f"{sim.base_url}/health/webhook-test", json=body)
    assert r.status_code == 422, r.text
