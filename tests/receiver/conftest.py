"""Fixtures for the receiver tests: secrets, and a real in-process receiver per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.receiver.helpers import FEED_TOKEN, InProcessReceiver, new_secret


@pytest.fixture(scope="session")
def secret() -> str:
    return new_secret()


@pytest.fixture(scope="session")
def next_secret() -> str:
    """A second configured secret (rotation, or a second subscription)."""
    return new_secret(24)


@pytest.fixture
def receiver(tmp_path, secret, next_secret) -> Iterator[InProcessReceiver]:
    handle = InProcessReceiver(tmp_path, [secret, next_secret], feed_token=FEED_TOKEN)
    yield handle
    handle.close()
