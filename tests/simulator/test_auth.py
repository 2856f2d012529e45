"""Contract §1–2: API keys, the 402 tier answer, rate limits per bucket, workspace isolation."""

from __future__ import annotations

import time

import httpx
import pytest

from simulator.config import SimulatorConfig
from simulator.state import workspace_for_key
from simulator.testing import new_key, running_simulator
from tests.simulator.helpers import PREFIX, Api

pytestmark = pytest.mark.timeout(60)


def test_missing_key_is_401(sim):
    r = httpx.get(f"{sim.base_url}{PREFIX}/webhooks/subscriptions")
    assert r.status_code == 401
    assert r.json() == {"detail": "Missing X-API-Key header"}


@pytest.mark.parametrize(
    "key",
    [
        "sk_test_" + "0" * 64,  # well formed, never issued
        "sk_live_short",
        "not-a-key",
        "sk_test_" + "é" * 64,  # non-ASCII must not trip the constant-time compare
    ],
)
def test_unknown_key_is_401(sim, key):
    r = httpx.get(
        f"{sim.base_url}{PREFIX}/webhooks/subscriptions", headers={"X-API-Key": key.encode()}
    )
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid API key"}


def test_expired_and_revoked_keys_get_their_own_401(sim, keys):
    for key, detail in (
        (keys.expired, "This API key has expired"),
        (keys.revoked, "This API key has been revoked"),
    ):
        r = Api(sim.base_url, key).get("/webhooks/subscriptions")
        assert (r.status_code, r.json()) == (401, {"detail": detail})


@pytest.mark.parametrize(
    ("method", "path", "bucket"),
    [
        ("GET", "/submissions/00000000-0000-0000-0000-000000000000", "submission_read"),
        ("POST", "/uploads/url", "upload"),
        ("GET", "/webhooks/subscriptions", "webhook_read"),
        ("POST", "/sandbox/events/fire", "sandbox"),
    ],
)
def test_plan_without_api_access_is_402_naming_the_bucket(sim, keys, method, path, bucket):
    r = Api(sim.base_url, keys.tier).http.request(method, path, json={})
    assert r.status_code == 402
    body = r.json()
    assert body["error_code"] == "tier_not_authorized_for_integrations_api"
    assert body["bucket"] == bucket
    assert isinstance(body["message"], str) and body["message"]


def test_config_rejects_malformed_keys_without_echoing_them():
    bad = "sk_test_" + "z" * 64
    with pytest.raises(ValueError) as info:
        SimulatorConfig(api_keys=[bad])
    assert bad not in str(info.value)
    assert "sk_test_" in str(info.value)  # the prefix, to say which one


def test_workspace_isolation(api, other_api):
    created = api.submit_new(1)
    sid, aid = created["submissionId"], created["assets"][0]["assetId"]
    api.wait_terminal(sid)
    for path in (
        f"/submissions/{sid}",
        f"/submissions/{sid}/assets/{aid}",
        f"/submissions/{sid}/assets/{aid}/issues",
        f"/submissions/{sid}/assets/{aid}/topics",
    ):
        assert api.get(path).status_code == 200
        r = other_api.get(path)
        assert r.status_code == 404, path
        assert "detail" in r.json()
    assert other_api.post(f"/submissions/{sid}/assets/{aid}/retry").status_code == 404
    fire = {"eventType": "asset.processing.completed", "submissionId": sid}
    assert other_api.post("/sandbox/events/fire", json=fire).status_code == 404
    # Another workspace's blob path is not a valid blob path for me.
    path = api.upload("private.mp4")
    r = other_api.post("/submissions", json={"assets": [{"blobPath": path}]})
    assert r.status_code == 403
    # Subscriptions: 403 for another workspace's, and never listed.
    sub = api.subscribe("https://127.0.0.1:9/hook")
    for method in ("GET", "PATCH", "DELETE"):
        r = other_api.http.request(
            method, f"/webhooks/subscriptions/{sub['id']}", json={"enabled": False}
        )
        assert r.status_code == 403, method
    assert other_api.get(f"/webhooks/subscriptions/{sub['id']}/deliveries").status_code == 403
    listed = other_api.get("/webhooks/subscriptions", params={"pageSize": 100}).json()
    assert sub["id"] not in {s["id"] for s in listed["items"]}
    assert api.get(f"/webhooks/subscriptions/{sub['id']}").json()["enabled"] is True


def test_each_key_is_its_own_workspace(api, other_api, keys):
    created = api.submit_new(1)
    status = api.status(created["submissionId"])
    assert status["workspaceId"] == workspace_for_key(keys.sandbox)
    assert status["workspaceId"] != workspace_for_key(keys.other)
    assert api.upload("ws.png", "image/png").startswith(status["workspaceId"] + "/")


def test_rate_limit_429_with_retry_after_per_key_and_bucket():
    key, other = new_key(), new_key()
    with running_simulator(api_keys=[key, other], rate_limits={"webhook_read": 3}) as sim:
        api, api2 = Api(sim.base_url, key), Api(sim.base_url, other)
        codes = [api.get("/webhooks/subscriptions").status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        limited = api.get("/webhooks/subscriptions")
        assert limited.status_code == 429
        assert limited.json() == {"error": "Rate limit exceeded: too many webhook read requests"}
        retry_after = int(limited.headers["Retry-After"])
        assert retry_after >= 1
        # No X-RateLimit-* headers in the real service either.
        assert not [h for h in limited.headers if h.lower().startswith("x-ratelimit")]
        # Other buckets and other keys have their own budgets.
        assert api.get("/submissions/00000000-0000-0000-0000-000000000000").status_code == 404
        assert api2.get("/webhooks/subscriptions").status_code == 200
        time.sleep(retry_after)
        assert api.get("/webhooks/subscriptions").status_code == 200


def test_rate_limited_write_bucket_words():
    key = new_key()
    with running_simulator(api_keys=[key], rate_limits={"upload": 1}) as sim:
        api = Api(sim.base_url, key)
        body = {"filename": "a.png", "contentType": "image/png"}
        assert api.post("/uploads/url", json=body).status_code == 200
        r = api.post("/uploads/url", json=body)
        assert r.status_code == 429
        assert r.json()["error"] == "Rate limit exceeded: too many upload requests"
