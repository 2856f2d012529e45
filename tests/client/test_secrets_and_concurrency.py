"""The API key never leaks (reprs, errors, DEBUG logs of every library); concurrency is bounded
as seen from the server side."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from mmq.client import (
    ApiError,
    AsyncMediaMagicClient,
    AuthError,
    MediaMagicClient,
    NotFound,
    RateLimited,
    TransportError,
)
from mmq.netutil import free_port
from simulator.testing import new_key
from tests.client.conftest import probed_simulator

LOGGERS = ("", "httpx", "httpcore", "tenacity", "mmq", "simulator", "uvicorn")


def _everything_logged(caplog) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.args), repr(record.__dict__)]
    return "\n".join(parts)


def test_api_key_never_appears_in_reprs_errors_or_debug_logs(caplog):
    key = new_key()
    unknown = new_key()  # rejected with 401: must not leak either
    faults = {"retry_after_seconds": 0, "endpoints": {"GET /webhooks": {"rate_429": 1.0}}}
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    errors: list[ApiError] = []
    with probed_simulator(api_keys=[key], time_scale=0.002, faults=faults) as (sim, _probe):

        async def scenario():
            async with AsyncMediaMagicClient(
                sim.base_url, key, max_attempts=2, backoff_max=0.01
            ) as client:
                texts = [repr(client), str(client)]
                path = await client.upload(f"spot-{uuid.uuid4().hex}.mp4", b"v", "video/mp4")
                await client.create_submission([path])
                for call in (
                    client.get_submission(str(uuid.uuid4())),  # 404
                    client.list_subscriptions(),  # 429, retried, then given up
                ):
                    try:
                        await call
                    except ApiError as exc:
                        errors.append(exc)
            async with AsyncMediaMagicClient(sim.base_url, unknown, max_attempts=1) as other:
                texts.append(repr(other))
                try:
                    await other.get_submission(str(uuid.uuid4()))
                except ApiError as exc:
                    errors.append(exc)
            dead = AsyncMediaMagicClient(
                f"http://127.0.0.1:{free_port()}", key, max_attempts=2, backoff_max=0.01
            )
            try:
                await dead.list_subscriptions()
            except ApiError as exc:
                errors.append(exc)
            finally:
                await dead.aclose()
            return texts

        texts = asyncio.run(scenario())
        with MediaMagicClient(sim.base_url, key) as sync_client:
            texts += [repr(sync_client), str(sync_client)]

    assert [type(e) for e in errors] == [NotFound, RateLimited, AuthError, TransportError]
    assert errors[2].status_code == 401
    texts += [repr(e) for e in errors] + [str(e) for e in errors]
    texts += [repr(e.body) for e in errors]
    logged = _everything_logged(caplog)
    # The capture really saw the libraries' DEBUG chatter, so the check below means something.
    assert any(r.name.startswith("httpx") for r in caplog.records)
    assert any(r.name.startswith("httpcore") and r.levelno == logging.DEBUG for r in caplog.records)
    for secret in (key, unknown, key[8:]):  # the hex part alone is the secret too
        assert secret not in logged
        for text in texts:
            assert secret not in text


@pytest.mark.parametrize("limit", [1, 2])
def test_concurrency_is_bounded_at_the_server(limit):
    key = new_key()
    # Latency keeps each request in flight long enough for overlaps to show.
    faults = {"endpoints": {"GET /webhooks": {"latency_ms": 60}}}
    with probed_simulator(api_keys=[key], faults=faults) as (sim, probe):

        async def scenario(max_concurrency: int) -> None:
            async with AsyncMediaMagicClient(
                sim.base_url, key, max_concurrency=max_concurrency
            ) as client:
                pages = await asyncio.gather(*(client.list_subscriptions() for _ in range(12)))
                assert all(p.total == 0 for p in pages)

        asyncio.run(scenario(limit))
        assert len(probe.requests("/webhooks")) == 12
        assert probe.max_in_flight == limit
        # Control: a looser bound does let more through, so the measure can tell them apart.
        probe.reset()
        asyncio.run(scenario(6))
        assert probe.max_in_flight > limit
