"""Model parsing on crafted JSON: the real service may add or omit fields the contract marks
[decided]; the client keeps what it does not know and needs only what it must have."""

from __future__ import annotations

import pydantic
import pytest

from mmq.client import models


def test_unknown_fields_are_kept_in_raw_and_as_extras_at_every_level():
    data = {
        "submissionId": "s-1",
        "status": "complete",
        "priorityLane": "express",  # unknown top-level field
        "assets": [
            {"assetId": "a-1", "status": "complete", "reviewModel": "v9", "issueCount": 3},
            {"assetId": "a-2"},  # the documented example has no per-asset status
        ],
    }
    submission = models.Submission.from_json(data)
    assert submission.raw is data
    assert submission.model_extra == {"priorityLane": "express"}
    assert submission.assets[0].raw == data["assets"][0]
    assert submission.assets[0].model_extra == {"reviewModel": "v9"}
    assert submission.assets[0].issue_count == 3
    assert submission.assets[1].status is None and submission.assets[1].raw == {"assetId": "a-2"}


def test_missing_optional_fields_default():
    submission = models.Submission.from_json({"submissionId": "s-1", "status": "processing"})
    assert submission.assets == [] and submission.progress_percent is None
    assert submission.completed_at is None and submission.workspace_id is None
    topics = models.TopicsPage.from_json({"topics": []})  # no orphanIssues, no metadata
    assert topics.orphan_issues == [] and topics.metadata == {}
    page = models.SubscriptionPage.from_json({"items": [{"id": "w", "endpointUrl": "https://x"}]})
    assert page.items[0].enabled is True and page.items[0].event_types == []
    assert page.total == 0 and page.items[0].raw == {"id": "w", "endpointUrl": "https://x"}
    deliveries = models.Deliveries.from_json({"attempts": [{"id": "d", "status": "FAILED"}]})
    assert deliveries.attempts[0].response_status is None


def test_snake_case_names_are_accepted_too():
    # populate_by_name: a service that answered snake_case would still parse.
    created = models.CreatedSubmission.from_json(
        {"submission_id": "s-1", "assets": [{"asset_id": "a-1", "version_number": 2}]}
    )
    assert created.submission_id == "s-1" and created.assets[0].version_number == 2


def test_required_fields_are_still_required():
    with pytest.raises(pydantic.ValidationError):
        models.Submission.from_json({"status": "complete"})  # no submissionId
    with pytest.raises(pydantic.ValidationError):
        models.UploadUrl.from_json({"uploadUrl": "https://blob"})  # no blobPath


def test_subscription_secret_is_hidden_in_reprs_but_kept():
    data = {"id": "w", "endpointUrl": "https://x", "secret": "whsec_c2VjcmV0"}
    subscription = models.Subscription.from_json(data)
    assert "whsec_c2VjcmV0" not in repr(subscription)
    assert "whsec_c2VjcmV0" not in str(subscription)
    assert subscription.secret.get_secret_value() == "whsec_c2VjcmV0"
