"""Answers the client must not retry: each raises its typed error after exactly one request.

The probe around the simulator counts what actually arrived, so "not retried" is observed on the
server side, not taken from the client's word.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from mmq.client import (
    ApiError,
    AsyncMediaMagicClient,
    AuthError,
    Conflict,
    Forbidden,
    NotFound,
    NotReady,
    PayloadTooLarge,
    PaymentRequired,
    UnsupportedMediaType,
    ValidationFailed,
)
from mmq.contract import DIRECT_UPLOAD_LIMIT
from simulator.testing import new_key
from tests.client.conftest import Probe, probed_simulator


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    return {"sandbox": new_key("test"), "live": new_key("live"), "tier": new_key("live")}


@pytest.fixture(scope="module")
def probed(keys) -> Iterator[tuple]:
    # Fault injection on, but on a path no test here calls: errors below are the simulator's own.
    with probed_simulator(
        api_keys=[keys["sandbox"], keys["live"]],
        unauthorized_tier_keys=[keys["tier"]],
        time_scale=0.005,
        failure_rate=0.0,
        faults={"rate_500": 1.0, "paths": ["/sandbox/"]},
    ) as pair:
        yield pair


def unique(name: str) -> str:
    stem, _, ext = name.rpartition(".")
    return f"{stem}-{uuid.uuid4().hex[:10]}.{ext}"


async def _ready_path(client: AsyncMediaMagicClient) -> str:
    return await client.upload(unique("spot.mp4"), b"video", "video/mp4")


def _expect_once(probe: Probe, call, error: type[ApiError], status: int, fragment: str):
    """Run ``call`` (a coroutine factory); assert the error and a single request to fragment."""
    probe.reset()
    with pytest.raises(error) as caught:
        asyncio.run(call())
    exc = caught.value
    assert type(exc) is error
    assert exc.status_code == status
    assert exc.detail
    assert str(status) in str(exc)
    hits = probe.requests(fragment)
    assert [h.status for h in hits] == [status], "a non-retryable answer must not be retried"
    return exc


def _client(sim, key: str) -> AsyncMediaMagicClient:
    # Plenty of attempts and no waiting: a retry, if one happened, would show in the probe.
    return AsyncMediaMagicClient(sim.base_url, key, max_attempts=5, backoff_max=0.01)


def test_400_simulation_delay_with_live_key(probed, keys):
    sim, probe = probed

    async def call():
        async with _client(sim, keys["live"]) as client:
            path = await _ready_path(client)
            probe.reset()
            await client.create_submission([path], simulation_delay_seconds=1)

    exc = _expect_once(probe, call, ApiError, 400, "/submissions")
    assert "sandbox" in exc.detail


def test_401_unknown_key(probed):
    sim, probe = probed

    async def call():
        async with _client(sim, new_key("test")) as client:
            await client.get_submission(str(uuid.uuid4()))

    exc = _expect_once(probe, call, AuthError, 401, "/submissions/")
    assert exc.detail == "Invalid API key"


def test_402_plan_without_api_access(probed, keys):
    sim, probe = probed

    async def call():
        async with _client(sim, keys["tier"]) as client:
            await client.list_subscriptions()

    exc = _expect_once(probe, call, PaymentRequired, 402, "/webhooks/subscriptions")
    assert exc.body["error_code"] == "tier_not_authorized_for_integrations_api"


def test_403_blob_never_uploaded(probed, keys):
    sim, probe = probed

    async def call():
        async with _client(sim, keys["sandbox"]) as client:
            await client.create_submission(["nowhere/never-uploaded.mp4"])

    exc = _expect_once(probe, call, Forbidden, 403, "/submissions")
    assert "Invalid blob path" in exc.detail


def test_404_unknown_submission(probed, keys):
    sim, probe = probed

    async def call():
        async with _client(sim, keys["sandbox"]) as client:
            await client.get_submission(str(uuid.uuid4()))

    exc = _expect_once(probe, call, NotFound, 404, "/submissions/")
    assert exc.detail == "Submission not found"


def test_409_blob_already_submitted(probed, keys):
    sim, probe = probed

    async def call():
        async with _client(sim, keys["sandbox"]) as client:
            path = await _ready_path(client)
            await client.create_submission([path])
            probe.reset()
            await client.create_submission([path])

    exc = _expect_once(probe, call, Conflict, 409, "/submissions")
    assert "already submitted" in exc.detail


def test_413_direct_upload_over_the_cap(probed, keys):
    sim, probe = probed

    async def call():
        async with _client(sim, keys["sandbox"]) as client:
            too_big = b"\0" * (DIRECT_UPLOAD_LIMIT + 1)
            await client.upload_direct(unique("huge.png"), too_big, "image/png")

    _expect_once(probe, call, PayloadTooLarge, 413, "/uploads/direct")


def test_415_content_type_not_allowed(probed, keys):
    sim, probe = probed

    async def call():
        async with _client(sim, keys["sandbox"]) as client:
            await client.create_upload_url(unique("tool.exe"), "application/x-msdownload")

    _expect_once(probe, call, UnsupportedMediaType, 415, "/uploads/url")


def test_422_unknown_key_in_an_asset(probed, keys):
    sim, probe = probed

    async def call():
        async with _client(sim, keys["sandbox"]) as client:
            path = await _ready_path(client)
            probe.reset()
            await client.create_submission([{"blobPath": path, "priority": "high"}])

    exc = _expect_once(probe, call, ValidationFailed, 422, "/submissions")
    assert isinstance(exc.detail, list) and exc.detail[0]["loc"]
    assert "priority" in str(exc)


def test_not_ready_is_told_apart_from_gone(probed, keys):
    sim, probe = probed

    async def scenario():
        async with _client(sim, keys["sandbox"]) as client:
            path = await _ready_path(client)
            # A sandbox delay keeps the asset unfinished long enough for the first reads.
            created = await client.create_submission([path], simulation_delay_seconds=3)
            sid, aid = created.submission_id, created.assets[0].asset_id
            probe.reset()
            with pytest.raises(NotReady) as not_ready:
                await client.get_asset_issues(sid, aid)
            assert not_ready.value.status_code == 404
            assert isinstance(not_ready.value, NotFound)  # callers catching NotFound still work
            assert [h.status for h in probe.requests("/issues")] == [404]
            with pytest.raises(NotReady):
                await client.get_asset_topics(sid, aid)

            # Unknown asset of a known submission, and an unknown submission: gone.
            for s, a in ((sid, str(uuid.uuid4())), (str(uuid.uuid4()), aid)):
                with pytest.raises(NotFound) as gone:
                    await client.get_asset_issues(s, a)
                assert type(gone.value) is NotFound

            # Not ready turns into results by polling, as a caller would after NotReady.
            deadline = time.monotonic() + 30
            while True:
                try:
                    issues = await client.get_asset_issues(sid, aid)
                    break
                except NotReady:
                    assert time.monotonic() < deadline, "asset never became ready"
                    await asyncio.sleep(0.1)
            asset = await client.get_asset(sid, aid)
            assert len(issues.issues) == asset.issue_count

    asyncio.run(scenario())


def test_asset_finishing_between_the_two_reads_is_not_reported_gone(probed, keys):
    """The issues 404 says "unfinished"; the asset finishes before the client asks for its
    status. The client must then fetch the results, not call them gone."""
    sim, probe = probed

    async def scenario():
        async with _client(sim, keys["sandbox"]) as client:
            path = await _ready_path(client)
            created = await client.create_submission([path], simulation_delay_seconds=30)
            sid, aid = created.submission_id, created.assets[0].asset_id
            asset = sim.state.assets[aid]

            def finish_after_first_404(seen) -> None:
                if seen.path.endswith("/issues") and seen.status == 404:
                    probe.after = None
                    sim.engine._finish(asset, asset.retry_count)  # what its timer would do

            probe.reset()
            probe.after = finish_after_first_404
            try:
                return await client.get_asset_issues(sid, aid)
            finally:
                probe.after = None

    issues = asyncio.run(scenario())
    assert issues.raw["issues"] == issues.issues
    calls = [(s.path.rsplit("/", 1)[-1], s.status) for s in probe.requests("/submissions/")]
    assert [status for _, status in calls] == [404, 200, 200]
    assert calls[0][0] == calls[2][0] == "issues"
