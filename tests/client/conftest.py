"""Fixtures for the client tests: real simulators on loopback, one of them behind a request probe.

The probe is a plain ASGI wrapper around the real simulator app: it records every request the
simulator *received* (so a test can count attempts and overlapping requests server-side instead
of trusting the client about its own behaviour).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

import pytest

import simulator.testing
from simulator.app import create_app
from simulator.testing import SimHandle, new_key, running_simulator
from tests.simulator.sink import WebhookSink


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    status: int
    started: float  # time.monotonic()
    ended: float


class Probe:
    """Outermost ASGI layer: records requests with their final status and tracks in-flight."""

    def __init__(self, app) -> None:
        self.app = app
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        # Called on the server's loop with each finished request: lets a test act at an exact
        # point between two requests of one client call.
        self.after: Callable[[Seen], None] | None = None

    def __getattr__(self, name: str):  # SimHandle reads app.state.sim through us
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 0

        async def record_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.monotonic()
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.app(scope, receive, record_status)
        finally:
            with self._lock:
                self.in_flight -= 1
                seen = Seen(scope["method"], scope["path"], status, started, time.monotonic())
                self.seen.append(seen)
            if self.after is not None:
                self.after(seen)

    def requests(self, fragment: str = "", method: str | None = None) -> list[Seen]:
        """Requests whose path holds ``fragment``, once none is in flight any more (a client
        may see an early answer, e.g. a 413, before the server finished the request)."""
        deadline = time.monotonic() + 10
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.005)
        with self._lock:
            return [
                s
                for s in self.seen
                if fragment in s.path and (method is None or s.method == method)
            ]

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()
            self.max_in_flight = self.in_flight


@contextmanager
def probed_simulator(**config_fields) -> Iterator[tuple[SimHandle, Probe]]:
    """``running_simulator`` serving the real app wrapped in a :class:`Probe`."""
    probes: list[Probe] = []

    def wrapped_app(config):
        probes.append(Probe(create_app(config)))
        return probes[-1]

    with (
        mock.patch.object(simulator.testing, "create_app", wrapped_app),
        running_simulator(**config_fields) as handle,
    ):
        probe = probes[0]
        probe.reset()  # forget the readiness probe's GET /health
        yield handle, probe


def wait_until_terminal(client, submission_id: str, timeout: float = 20.0):
    """Poll through the client (async) until the submission settles; returns its status."""

    async def poll():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = await client.get_submission(submission_id)
            if status.status in ("complete", "failed"):
                return status
            await asyncio.sleep(0.02)
        raise TimeoutError(f"submission {submission_id} did not settle in {timeout}s")

    return poll()


@pytest.fixture(scope="module")
def sandbox_key() -> str:
    return new_key("test")


@pytest.fixture(scope="module")
def live_key() -> str:
    return new_key("live")


@pytest.fixture(scope="module")
def sim(sandbox_key: str, live_key: str) -> Iterator[SimHandle]:
    """Fault-free simulator shared by a module; processing is ~100x faster than real."""
    with running_simulator(
        api_keys=[sandbox_key, live_key], time_scale=0.005, failure_rate=0.0
    ) as handle:
        yield handle


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as endpoint:
        yield endpoint
