"""Fixtures for the simulator tests: one shared simulator per module, keys of every kind."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from simulator.testing import SimHandle, new_key, running_simulator
from tests.simulator.helpers import Api
from tests.simulator.sink import WebhookSink


@dataclass(frozen=True)
class Keys:
    sandbox: str
    other: str  # a second sandbox workspace
    live: str
    tier: str  # authenticates, but the plan lacks API access
    expired: str
    revoked: str


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(
        new_key("test"),
        new_key("test"),
        new_key("live"),
        new_key("live"),
        new_key("test"),
        new_key("live"),
    )


@pytest.fixture(scope="module")
def sim(keys: Keys) -> Iterator[SimHandle]:
    """A simulator shared by a module's tests; each test uses its own blob names."""
    with running_simulator(
        api_keys=[keys.sandbox, keys.other, keys.live],
        unauthorized_tier_keys=[keys.tier],
        expired_api_keys=[keys.expired],
        revoked_api_keys=[keys.revoked],
        time_scale=0.002,
        failure_rate=0.0,
        subscription_limit=1000,
    ) as handle:
        yield handle


@pytest.fixture
def api(sim: SimHandle, keys: Keys) -> Iterator[Api]:
    client = Api(sim.base_url, keys.sandbox)
    yield client
    client.close()


@pytest.fixture
def other_api(sim: SimHandle, keys: Keys) -> Iterator[Api]:
    client = Api(sim.base_url, keys.other)
    yield client
    client.close()


@pytest.fixture
def live_api(sim: SimHandle, keys: Keys) -> Iterator[Api]:
    client = Api(sim.base_url, keys.live)
    yield client
    client.close()


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as endpoint:
        yield endpoint


@pytest.fixture
def fresh_api(keys: Keys) -> Iterator[Api]:
    """A simulator of its own, for tests that count events: no other test's subscriptions."""
    with running_simulator(
        api_keys=[keys.sandbox, keys.live], time_scale=0.002, failure_rate=0.0
    ) as handle:
        client = Api(handle.base_url, keys.sandbox)
        client.sim = handle
        yield client
        client.close()
