"""Retryable answers (429 with Retry-After, 500, 502) and connection errors, with faults injected
by the simulator itself; the probe shows what reached the server and when."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

from mmq.client import (
    AsyncMediaMagicClient,
    RateLimited,
    ServerError,
    TransportError,
)
from mmq.netutil import free_port
from simulator.testing import new_key
from tests.client.conftest import probed_simulator, wait_until_terminal

FAST = {"backoff_max": 0.02}  # backoff for 500/502/connection errors; Retry-After is separate


def unique(name: str) -> str:
    stem, _, ext = name.rpartition(".")
    return f"{stem}-{uuid.uuid4().hex[:10]}.{ext}"


async def _completed(client: AsyncMediaMagicClient) -> tuple[str, str]:
    path = await client.upload(unique("spot.mp4"), b"video", "video/mp4")
    created = await client.create_submission([path])
    await wait_until_terminal(client, created.submission_id)
    return created.submission_id, created.assets[0].asset_id


def test_recovers_from_injected_500_and_502_on_reads():
    key = new_key()
    faults = {
        "endpoints": {
            "GET /submissions/": {"rate_500": 0.3, "rate_502": 0.3},
        }
    }
    with probed_simulator(
        api_keys=[key], time_scale=0.002, failure_rate=0.0, faults=faults, seed=11
    ) as (sim, probe):
        injected_before: Counter[int] = Counter()

        async def scenario():
            async with AsyncMediaMagicClient(sim.base_url, key, max_attempts=12, **FAST) as c:
                sid, aid = await _completed(c)
                probe.reset()
                injected_before.update(sim.sim.injected)
                for _ in range(10):
                    status = await c.get_submission(sid)
                    assert status.submission_id == sid
                    issues = await c.get_asset_issues(sid, aid)
                    topics = await c.get_asset_topics(sid, aid)
                    assert issues.asset_id == topics.asset_id == aid

        asyncio.run(scenario())
        seen = probe.requests("/submissions/")
        statuses = [s.status for s in seen]
        assert statuses.count(500) > 0 and statuses.count(502) > 0
        assert statuses.count(200) == 30  # every call ended in exactly one success
        # Every failed attempt the server saw was one it injected (none of its own).
        injected = sim.sim.injected - injected_before
        assert (statuses.count(500), statuses.count(502)) == (injected[500], injected[502])


def test_honours_retry_after_on_429_and_recovers():
    key = new_key()
    faults = {"retry_after_seconds": 1, "endpoints": {"GET /webhooks": {"rate_429": 0.5}}}
    with probed_simulator(api_keys=[key], faults=faults, seed=3) as (sim, probe):

        async def scenario():
            # backoff_max above Retry-After: the server's value, not the backoff, sets the wait.
            async with AsyncMediaMagicClient(sim.base_url, key, max_attempts=10) as c:
                for _ in range(10):
                    page = await c.list_subscriptions()
                    assert page.total == 0
                    statuses = [s.status for s in probe.requests("/webhooks")]
                    if 429 in statuses:
                        return  # this call met at least one 429 and still succeeded

        asyncio.run(scenario())
        seen = probe.requests("/webhooks")
        assert 429 in [s.status for s in seen] and seen[-1].status == 200
        for answered, following in itertools.pairwise(seen):
            if answered.status == 429:
                # Retry-After: 1 honoured (server-side gap, generous margin below 1 s).
                assert following.started - answered.ended >= 0.8


def test_gives_up_cleanly_when_attempts_run_out():
    key = new_key()
    faults = {
        "retry_after_seconds": 0,
        "endpoints": {
            "GET /submissions/": {"rate_500": 1.0},
            "GET /webhooks": {"rate_429": 1.0},
        },
    }
    with probed_simulator(api_keys=[key], faults=faults) as (sim, probe):

        async def call(coro_factory):
            async with AsyncMediaMagicClient(sim.base_url, key, max_attempts=3, **FAST) as c:
                await coro_factory(c)

        with pytest.raises(ServerError) as server_error:
            asyncio.run(call(lambda c: c.get_submission(str(uuid.uuid4()))))
        assert server_error.value.status_code == 500
        assert server_error.value.detail == "Internal server error (injected)"
        # Raised cleanly: no tenacity RetryError or httpx internals chained on.
        assert server_error.value.__cause__ is None and server_error.value.__context__ is None
        assert [s.status for s in probe.requests("/submissions/")] == [500, 500, 500]

        with pytest.raises(RateLimited) as limited:
            asyncio.run(call(lambda c: c.list_subscriptions()))
        assert limited.value.status_code == 429
        assert "Rate limit exceeded" in limited.value.detail
        assert [s.status for s in probe.requests("/webhooks")] == [429, 429, 429]
        assert sim.sim.injected == {500: 3, 429: 3}


def test_connection_refused_raises_transport_error():
    port = free_port()  # nothing listens here

    async def call():
        client = AsyncMediaMagicClient(
            f"http://127.0.0.1:{port}", new_key(), max_attempts=3, **FAST
        )
        async with client:
            await client.get_submission(str(uuid.uuid4()))

    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        asyncio.run(call())
    assert caught.value.status_code == 0
    assert "ConnectError" in str(caught.value)
    assert caught.value.__cause__ is None  # no httpx chain dragging the request along
    assert time.monotonic() - started < 60  # it gave up rather than hanging


class DroppingProxy:
    """TCP proxy on loopback that reads the first ``drop`` requests and closes the connection
    without an answer (a server dying mid-request); later connections are piped upstream."""

    def __init__(self, upstream_port: int, drop: int) -> None:
        self.upstream_port = upstream_port
        self.remaining_drops = drop
        self.dropped = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.remaining_drops > 0:
                self.remaining_drops -= 1
                conn.recv(65536)  # the request arrived…
                conn.close()  # …and the server went away before answering
                self.dropped += 1
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    @contextmanager
    def running(self) -> Iterator[DroppingProxy]:
        self._thread.start()
        try:
            yield self
        finally:
            self.listener.close()


def test_recovers_when_the_server_closes_mid_request():
    key = new_key()
    with probed_simulator(api_keys=[key], time_scale=0.002, failure_rate=0.0) as (sim, probe):
        upstream_port = int(sim.base_url.rsplit(":", 1)[1])
        with DroppingProxy(upstream_port, drop=2).running() as proxy:

            async def scenario():
                base = f"http://127.0.0.1:{proxy.port}"
                async with AsyncMediaMagicClient(base, key, max_attempts=5, **FAST) as c:
                    return await c.list_subscriptions()

            page = asyncio.run(scenario())
        assert page.total == 0
        assert proxy.dropped == 2
        assert [s.status for s in probe.requests("/webhooks")] == [200]
