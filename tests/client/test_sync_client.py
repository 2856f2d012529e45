"""The blocking facade: same methods and errors as the async client, on its own event loop."""

from __future__ import annotations

import time
import uuid

import pytest

from mmq.client import MediaMagicClient, NotFound, NotReady, ValidationFailed, models
from mmq.settings import Settings


def test_sync_client_round_trip(sim, sandbox_key, sink):
    with MediaMagicClient(sim.base_url, sandbox_key, max_concurrency=2) as client:
        path = client.upload(f"radio-{uuid.uuid4().hex}.mp3", b"mp3", "audio/mpeg")
        created = client.create_submission([path], simulation_delay_seconds=0.5)
        assert isinstance(created, models.CreatedSubmission)
        sid, aid = created.submission_id, created.assets[0].asset_id
        with pytest.raises(NotReady):
            client.get_asset_issues(sid, aid)
        deadline = time.monotonic() + 20
        while (status := client.get_submission(sid)).status not in ("complete", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status.status == "complete" and status.raw["submissionId"] == sid
        issues = client.get_asset_issues(sid, aid)
        assert len(issues.issues) == client.get_asset(sid, aid).issue_count

        subscription = client.create_subscription(sink.url, ["asset.processing.completed"])
        assert subscription.id in {s.id for s in client.list_subscriptions(page_size=50).items}
        client.delete_subscription(subscription.id)

        with pytest.raises(NotFound):
            client.get_submission(str(uuid.uuid4()))
        with pytest.raises(ValidationFailed):
            client.create_subscription(sink.url, ["asset.processing.exploded"])
        loop = client._loop
    assert loop.is_closed()


def test_from_settings_uses_the_typed_settings(sim, sandbox_key, monkeypatch):
    monkeypatch.setenv("MMQ_API_BASE_URL", sim.base_url)
    monkeypatch.setenv("MMQ_API_KEY", sandbox_key)
    monkeypatch.setenv("MMQ_API_MAX_ATTEMPTS", "2")
    settings = Settings()
    with MediaMagicClient.from_settings(settings) as client:
        assert client.max_attempts == 2
        assert client.list_subscriptions().page == 1
        assert sandbox_key not in repr(client)
