"""Every endpoint method of the async client against a real simulator: typed results, raw kept."""

from __future__ import annotations

import asyncio
import uuid

from pydantic import SecretStr
from standardwebhooks import Webhook

from mmq.client import AsyncMediaMagicClient, NotFound, models
from simulator.testing import new_key, running_simulator
from tests.client.conftest import wait_until_terminal

BOTH_TYPES = ["asset.processing.completed", "asset.processing.failed"]


def run(coro):
    return asyncio.run(coro)


def unique(name: str) -> str:
    stem, _, ext = name.rpartition(".")
    return f"{stem}-{uuid.uuid4().hex[:10]}.{ext}"


def test_uploads_presigned_and_direct(sim, sandbox_key):
    async def scenario():
        async with AsyncMediaMagicClient(sim.base_url, sandbox_key) as client:
            name = unique("spot.mp4")
            target = await client.create_upload_url(name, "video/mp4")
            assert isinstance(target, models.UploadUrl)
            assert target.blob_path.endswith("/" + name)
            assert target.raw["uploadUrl"] == target.upload_url
            await client.put_upload(target.upload_url, b"bytes", "video/mp4")
            assert sim.state.blobs[target.blob_path].size == len(b"bytes")

            path = await client.upload(unique("banner.png"), b"png-bytes", "image/png")
            assert sim.state.blobs[path].size == len(b"png-bytes")

            direct = await client.upload_direct(
                unique("leaflet.pdf"), b"%PDF-1.7", "application/pdf"
            )
            assert isinstance(direct, models.UploadedBlob)
            assert direct.size_bytes == len(b"%PDF-1.7")
            assert direct.content_type == "application/pdf"
            assert direct.raw["blobPath"] == direct.blob_path

    run(scenario())


def test_submission_status_asset_issues_and_topics(sim, sandbox_key):
    async def scenario():
        async with AsyncMediaMagicClient(sim.base_url, sandbox_key) as client:
            paths = [
                await client.upload(unique(f"clip-{n}.mp4"), b"video", "video/mp4")
                for n in range(2)
            ]
            created = await client.create_submission(paths, metadata={"campaign": "spring"})
            assert isinstance(created, models.CreatedSubmission)
            assert created.status == "submitted"
            assert [a.raw["assetId"] for a in created.assets] == [
                a.asset_id for a in created.assets
            ]
            # Not a typed field: kept as an extra and in raw, so it is not lost.
            assert created.raw["ablyChannel"] == f"submission:{created.submission_id}"
            assert created.model_extra["ablyChannel"] == created.raw["ablyChannel"]

            status = await wait_until_terminal(client, created.submission_id)
            assert isinstance(status, models.Submission)
            assert status.status == "complete" and status.progress_percent == 100
            assert {a.asset_id for a in status.assets} == {a.asset_id for a in created.assets}
            # Nested models keep their own raw JSON too.
            assert status.assets[0].raw == status.raw["assets"][0]

            asset_id = created.assets[0].asset_id
            asset = await client.get_asset(created.submission_id, asset_id)
            assert isinstance(asset, models.Asset)
            assert asset.status == "complete"
            assert asset.issue_count == len(asset.issues)

            issues = await client.get_asset_issues(created.submission_id, asset_id)
            assert isinstance(issues, models.IssuesPage)
            assert len(issues.issues) == asset.issue_count
            assert issues.raw["issues"] == issues.issues

            topics = await client.get_asset_topics(created.submission_id, asset_id)
            assert isinstance(topics, models.TopicsPage)
            grouped = [i["id"] for t in topics.topics for i in t["issues"]]
            orphans = [i["id"] for i in topics.orphan_issues]
            assert sorted(grouped + orphans) == sorted(i["id"] for i in issues.issues)
            assert topics.raw["orphanIssues"] == topics.orphan_issues

    run(scenario())


def test_retry_asset_and_failed_asset_results_are_gone():
    key = new_key()
    with running_simulator(
        api_keys=[key], time_scale=0.002, failure_rate=1.0, retryable_share=1.0
    ) as failing:

        async def scenario():
            async with AsyncMediaMagicClient(failing.base_url, key) as client:
                path = await client.upload(unique("spot.mp4"), b"v", "video/mp4")
                created = await client.create_submission([path])
                status = await wait_until_terminal(client, created.submission_id)
                asset = status.assets[0]
                assert (status.status, asset.status, asset.is_retryable) == (
                    "failed",
                    "failed",
                    True,
                )
                assert asset.error_message

                # A failed asset has no results: 404 that means "gone", not "not ready".
                try:
                    await client.get_asset_issues(created.submission_id, asset.asset_id)
                except NotFound as exc:
                    assert type(exc) is NotFound
                    assert exc.status_code == 404
                else:
                    raise AssertionError("issues of a failed asset must raise NotFound")

                retried = await client.retry_asset(created.submission_id, asset.asset_id)
                assert isinstance(retried, models.CreatedSubmission)
                assert retried.status == "processing"
                after = await wait_until_terminal(client, created.submission_id)
                # Retries succeed more often than first attempts: either outcome is terminal.
                assert after.assets[0].retry_count == 1
                assert after.assets[0].status in ("complete", "failed")

        run(scenario())


def test_subscription_lifecycle_deliveries_and_sandbox_fire(sim, sandbox_key, sink):
    async def scenario():
        async with AsyncMediaMagicClient(sim.base_url, sandbox_key) as client:
            created = await client.create_subscription(sink.url, BOTH_TYPES, "client test")
            assert isinstance(created, models.Subscription)
            assert isinstance(created.secret, SecretStr)
            assert created.secret.get_secret_value().startswith("whsec_")
            assert created.secret.get_secret_value() not in repr(created)
            assert (created.enabled, created.description) == (True, "client test")

            fetched = await client.get_subscription(created.id)
            assert fetched.id == created.id and fetched.secret is None
            assert "secret" not in fetched.raw

            page = await client.list_subscriptions(page=1, page_size=100)
            assert isinstance(page, models.SubscriptionPage)
            assert created.id in {s.id for s in page.items}
            assert page.total >= 1 and page.page_size == 100
            assert all(s.raw["id"] == s.id for s in page.items)

            path = await client.upload(unique("spot.mp4"), b"v", "video/mp4")
            submission = await client.create_submission([path])
            await wait_until_terminal(client, submission.submission_id)
            dispatched = await client.fire_sandbox_event(
                "asset.processing.failed", submission.submission_id, "made up"
            )
            assert dispatched == 1
            await asyncio.to_thread(sim.wait_idle)

            deliveries = await client.list_deliveries(created.id, limit=200)
            assert isinstance(deliveries, models.Deliveries)
            assert deliveries.total == len(deliveries.attempts) >= 2  # completed + fired
            assert {a.status for a in deliveries.attempts} == {"SUCCESSFUL"}
            successful_only = await client.list_deliveries(created.id, status_filter="FAILED")
            assert successful_only.attempts == []

            # The secret from create verifies what the simulator signed.
            secret = created.secret.get_secret_value()
            for received in sink.received:
                Webhook(secret).verify(received.body, received.headers)

            disabled = await client.set_subscription_enabled(created.id, False)
            assert disabled.enabled is False
            assert await client.delete_subscription(created.id) is None
            try:
                await client.get_subscription(created.id)
            except NotFound:
                pass
            else:
                raise AssertionError("a deleted subscription must be NotFound")

    run(scenario())


def test_webhook_test_sends_one_signed_event(sim, sandbox_key, sink):
    secret = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIz"

    async def scenario():
        async with AsyncMediaMagicClient(sim.base_url, sandbox_key) as client:
            return await client.webhook_test(sink.url, SecretStr(secret))

    result = run(scenario())
    assert isinstance(result, models.WebhookTestResult)
    assert result.delivered is True and result.response_status == 204
    [received] = sink.wait_for(1)
    assert received.webhook_id == result.event_id
    Webhook(secret).verify(received.body, received.headers)
