"""Contract §5: create, status, asset, issues, topics, retry — bodies and every error case."""

from __future__ import annotations

import re
import uuid

import pytest

from simulator.results import outcome
from simulator.testing import new_key, running_simulator
from tests.simulator.helpers import UUID_RE, Api, unique

pytestmark = pytest.mark.timeout(60)
NO_SUCH = "00000000-0000-0000-0000-000000000000"


def test_create_response_shape(api):
    paths = [api.upload(unique("a.mp4")), api.upload(unique("b.png"), "image/png")]
    created = api.submit(*paths, metadata={"campaign": "spring"}, sidekickIds=[str(uuid.uuid4())])
    assert set(created) == {"submissionId", "workflowId", "ablyChannel", "status", "assets"}
    sid = created["submissionId"]
    assert re.fullmatch(UUID_RE, sid)
    assert re.fullmatch("asset-processing-" + UUID_RE, created["workflowId"])
    assert created["ablyChannel"] == f"submission:{sid}"
    assert created["status"] == "submitted"
    assert len(created["assets"]) == 2
    for asset in created["assets"]:
        assert set(asset) == {"assetId", "versionGroupId", "versionNumber"}
        assert asset["versionNumber"] == 1
    assert len({a["assetId"] for a in created["assets"]}) == 2


def test_create_errors(api, other_api, live_api):
    never_put = api.post("/uploads/url", json={"filename": "np.mp4", "contentType": "video/mp4"})
    cases = [
        ({"assets": [{"blobPath": "nowhere/x.mp4"}]}, 403),
        ({"assets": [{"blobPath": never_put.json()["blobPath"]}]}, 403),
        ({"assets": []}, 422),
        ({}, 422),
        ({"assets": [{"blobPath": "x", "filename": "extra key"}]}, 422),
        ({"assets": [{"blobPath": "x"}], "sidekickIds": ["not-a-uuid"]}, 422),
        ({"assets": "nope"}, 422),
    ]
    for body, status in cases:
        r = api.post("/submissions", json=body)
        assert r.status_code == status, (body, r.text)
        if status == 422:
            assert isinstance(r.json()["detail"], list)
            assert {"loc", "msg", "type"} <= set(r.json()["detail"][0])
    # The blob of another workspace.
    theirs = other_api.upload(unique("theirs.mp4"))
    assert api.post("/submissions", json={"assets": [{"blobPath": theirs}]}).status_code == 403
    # Unknown previous submission.
    path = api.upload(unique("v.mp4"))
    r = api.post(
        "/submissions", json={"assets": [{"blobPath": path, "previousSubmissionId": NO_SUCH}]}
    )
    assert r.status_code == 404
    # The same blob twice in one request, and a blob already submitted.
    assert api.post("/submissions", json={"assets": [{"blobPath": path}] * 2}).status_code == 409
    api.submit(path)
    assert api.post("/submissions", json={"assets": [{"blobPath": path}]}).status_code == 409
    # A rejected request changes nothing: the good blob in it can still be submitted.
    fresh = api.upload(unique("fresh.mp4"))
    mixed = {"assets": [{"blobPath": fresh}, {"blobPath": path}]}
    assert api.post("/submissions", json=mixed).status_code == 409
    api.submit(fresh)
    # simulationDelaySeconds: sandbox keys only, 0–30.
    live_path = live_api.upload(unique("live.mp4"))
    body = {"assets": [{"blobPath": live_path}]}
    r = live_api.post("/submissions", json=body, params={"simulationDelaySeconds": 1})
    assert r.status_code == 400
    assert "simulationDelaySeconds" in r.json()["detail"]
    for bad in (-1, 31, "soon"):
        r = api.post("/submissions", json=body, params={"simulationDelaySeconds": bad})
        assert r.status_code == 422, bad


def test_versioning_by_previous_submission(api):
    name = unique("spot.mp4")
    first = api.submit(api.upload(name), api.upload(unique("other.mp4")))
    group = first["assets"][0]["versionGroupId"]
    again = api.upload(name)
    r = api.post(
        "/submissions",
        json={"assets": [{"blobPath": again, "previousSubmissionId": first["submissionId"]}]},
    )
    assert r.status_code == 201
    asset = r.json()["assets"][0]
    assert (asset["versionGroupId"], asset["versionNumber"]) == (group, 2)
    # No asset of that name in the previous submission: a new group at version 1.
    unrelated = api.upload(unique("new.mp4"))
    r = api.post(
        "/submissions",
        json={"assets": [{"blobPath": unrelated, "previousSubmissionId": first["submissionId"]}]},
    )
    asset = r.json()["assets"][0]
    assert asset["versionNumber"] == 1 and asset["versionGroupId"] != group


def test_status_goes_from_submitted_to_complete(api):
    created = api.submit_new(3, delay=0.2)
    sid = created["submissionId"]
    early = api.status(sid)
    assert early["status"] in ("submitted", "processing")
    assert early["completedAt"] is None
    assert early["progressPercent"] == 0
    done = api.wait_terminal(sid)
    assert done["status"] == "complete"
    assert done["progressPercent"] == 100
    assert done["completedAt"] >= done["createdAt"]
    assert done["errorMessage"] is None and done["isRetryable"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", done["createdAt"])
    assert [a["assetId"] for a in done["assets"]] == [a["assetId"] for a in created["assets"]]
    for asset in done["assets"]:
        assert asset["status"] == "complete"
        assert isinstance(asset["issueCount"], int) and 0 <= asset["issueCount"] <= 40
        assert (asset["errorMessage"], asset["errorType"], asset["retryCount"]) == (None, None, 0)


def test_unfinished_asset_and_404_on_its_results(api):
    created = api.submit_new(1, delay=30)
    sid, aid = created["submissionId"], created["assets"][0]["assetId"]
    asset = api.get(f"/submissions/{sid}/assets/{aid}")
    assert asset.status_code == 200
    body = asset.json()
    assert body["status"] in ("submitted", "processing")
    assert (body["issueCount"], body["issues"]) == (None, [])
    for kind in ("issues", "topics"):
        r = api.get(f"/submissions/{sid}/assets/{aid}/{kind}")
        assert r.status_code == 404
        assert "not finished" in r.json()["detail"]


def test_asset_issues_and_topics_agree(api):
    created = api.submit_new(4)
    sid = created["submissionId"]
    api.wait_terminal(sid)
    seen_issues = 0
    for summary in api.status(sid)["assets"]:
        aid = summary["assetId"]
        asset = api.get(f"/submissions/{sid}/assets/{aid}").json()
        issues = api.get(f"/submissions/{sid}/assets/{aid}/issues").json()
        topics = api.get(f"/submissions/{sid}/assets/{aid}/topics").json()
        assert asset["status"] == "complete"
        assert asset["issueCount"] == summary["issueCount"] == len(asset["issues"])
        assert (issues["assetId"], issues["submissionId"]) == (aid, sid)
        assert [i["id"] for i in issues["issues"]] == [i["id"] for i in asset["issues"]]
        refs = [i["referenceNumber"] for i in issues["issues"]]
        assert refs == list(range(1, len(refs) + 1))
        for issue in issues["issues"]:
            assert issue["ruleContext"]["code"] == issue["ruleCode"]
            assert issue["evidence"] and issue["evidence"][0]["kind"] == "timecode"
            plain = {k: v for k, v in issue.items() if k not in ("ruleContext", "evidence")}
            assert plain in asset["issues"]
        in_topics = [i["id"] for t in topics["topics"] for i in t["issues"]]
        orphans = [i["id"] for i in topics["orphanIssues"]]
        assert sorted(in_topics + orphans) == sorted(i["id"] for i in asset["issues"])
        assert all(len(t["issues"]) >= 2 for t in topics["topics"])
        meta = topics["metadata"]
        assert (meta["topicCount"], meta["orphanCount"]) == (len(topics["topics"]), len(orphans))
        seen_issues += len(asset["issues"])
    assert seen_issues == sum(a["issueCount"] for a in api.status(sid)["assets"])


def test_unknown_ids_are_404(api):
    created = api.submit_new(1)
    sid = created["submissionId"]
    other = api.submit_new(1)["assets"][0]["assetId"]
    for path in (
        f"/submissions/{NO_SUCH}",
        "/submissions/not-even-a-uuid",
        f"/submissions/{sid}/assets/{NO_SUCH}",
        f"/submissions/{sid}/assets/{other}",  # an asset of another submission
        f"/submissions/{sid}/assets/{other}/issues",
        f"/submissions/{sid}/assets/{other}/topics",
    ):
        r = api.get(path)
        assert r.status_code == 404, path
        assert isinstance(r.json()["detail"], str)
    assert api.post(f"/submissions/{sid}/assets/{NO_SUCH}/retry").status_code == 404


def test_failed_assets_retry_and_its_409s():
    key = new_key()
    with running_simulator(
        api_keys=[key], time_scale=0.3, failure_rate=1.0, retryable_share=1.0, retry_cap=2
    ) as sim:
        api = Api(sim.base_url, key)
        # Outcomes are seeded by the asset id and retries succeed half the time: take an asset
        # whose two retries fail too, so that the second retry is allowed and a third is capped.
        for _ in range(40):
            created = api.submit_new(1)
            sid, aid = created["submissionId"], created["assets"][0]["assetId"]
            if outcome(aid, 1, 1.0, 1.0)[0] and outcome(aid, 2, 1.0, 1.0)[0]:
                break
        else:
            pytest.fail("no asset among 40 fails both retries: the outcome model changed")
        failed = api.wait_terminal(sid, timeout=30)
        assert failed["status"] == "failed"
        asset = failed["assets"][0]
        assert asset["status"] == "failed"
        assert asset["errorMessage"] and asset["errorType"]
        assert asset["isRetryable"] is True and failed["isRetryable"] is True
        assert failed["errorMessage"] == asset["errorMessage"]
        assert asset["issueCount"] is None
        for kind in ("issues", "topics"):
            assert api.get(f"/submissions/{sid}/assets/{aid}/{kind}").status_code == 404
        # Retry 1 of 2: 202 with the create shape, back to processing, retryCount + 1.
        r = api.post(f"/submissions/{sid}/assets/{aid}/retry")
        assert r.status_code == 202
        assert set(r.json()) == {"submissionId", "workflowId", "ablyChannel", "status", "assets"}
        assert r.json()["status"] == "processing"
        assert api.status(sid)["status"] == "processing"
        in_flight = api.post(f"/submissions/{sid}/assets/{aid}/retry")
        assert in_flight.status_code == 409
        assert "in flight" in in_flight.json()["detail"]
        again = api.wait_terminal(sid, timeout=30)
        assert again["assets"][0]["retryCount"] == 1
        assert api.post(f"/submissions/{sid}/assets/{aid}/retry").status_code == 202
        api.wait_terminal(sid, timeout=30)
        capped = api.post(f"/submissions/{sid}/assets/{aid}/retry")
        assert capped.status_code == 409
        assert "limit" in capped.json()["detail"].lower()
        assert api.status(sid)["assets"][0]["retryCount"] == 2


def test_retry_409_for_complete_and_non_retryable_assets():
    key = new_key()
    with running_simulator(
        api_keys=[key], time_scale=0.002, failure_rate=1.0, retryable_share=0.0
    ) as sim:
        api = Api(sim.base_url, key)
        created = api.submit_new(1)
        sid, aid = created["submissionId"], created["assets"][0]["assetId"]
        status = api.wait_terminal(sid)
        assert status["assets"][0]["isRetryable"] is False
        r = api.post(f"/submissions/{sid}/assets/{aid}/retry")
        assert r.status_code == 409
        assert "not retryable" in r.json()["detail"]


def test_retry_of_a_complete_asset_is_409(api):
    created = api.submit_new(1)
    sid, aid = created["submissionId"], created["assets"][0]["assetId"]
    api.wait_terminal(sid)
    r = api.post(f"/submissions/{sid}/assets/{aid}/retry")
    assert r.status_code == 409
    assert "failed" in r.json()["detail"]


def test_failure_share_is_configurable():
    key = new_key()
    with running_simulator(api_keys=[key], time_scale=0.002, failure_rate=0.5) as sim:
        api = Api(sim.base_url, key)
        sid = api.submit_new(40)["submissionId"]
        assets = api.wait_terminal(sid)["assets"]
        failed = sum(a["status"] == "failed" for a in assets)
        # Seeded by asset id, so a share, not an exact count: far from both 0 and 40.
        assert 8 <= failed <= 32
