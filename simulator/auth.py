"""API-key authentication and per-key, per-bucket token-bucket rate limits."""

from __future__ import annotations

import hmac
import math
import time
from dataclasses import dataclass

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from simulator.errors import ApiProblem
from simulator.state import workspace_for_key

# Declared for the OpenAPI document; the check itself is in authenticate().
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False)
BUCKET_WORDS = {
    "upload": "upload requests",
    "submission_write": "submission write requests",
    "submission_read": "submission read requests",
    "webhook_write": "webhook write requests",
    "webhook_read": "webhook read requests",
    "sandbox": "sandbox requests",
}


@dataclass(frozen=True, slots=True)
class Caller:
    key: str
    workspace_id: str

    @property
    def is_sandbox(self) -> bool:
        return self.key.startswith("sk_test_")

    def __repr__(self) -> str:  # the key is a secret
        return f"Caller(workspace_id={self.workspace_id!r}, sandbox={self.is_sandbox})"


class TokenBuckets:
    """One token bucket per (key, bucket): ``rate`` tokens/s, holding at most ``burst``.

    A bucket with its own rate in ``overrides`` holds at most that many tokens (one second's
    worth, at least one), so a low per-bucket limit bites at once instead of after a burst.
    """

    def __init__(self, rate: float, burst: int, overrides: dict[str, float]) -> None:
        self.rate, self.burst, self.overrides = rate, burst, overrides
        self.buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, key: str, bucket: str) -> float | None:
        """Take one token; return None when allowed, else seconds until the next token."""
        rate = self.overrides.get(bucket, self.rate)
        burst = max(1.0, min(float(self.burst), rate)) if bucket in self.overrides else self.burst
        now = time.monotonic()
        tokens, last = self.buckets.get((key, bucket), (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens >= 1:
            self.buckets[(key, bucket)] = (tokens - 1, now)
            return None
        self.buckets[(key, bucket)] = (tokens, now)
        return (1 - tokens) / rate


def _match(keys: list[str], presented: str) -> str | None:
    """The configured key equal to ``presented``, compared in constant time against each."""
    found = None
    for key in keys:
        if hmac.compare_digest(key.encode(), presented.encode()):
            found = key
    return found


def authenticate(request: Request, bucket: str) -> Caller:
    sim = request.app.state.sim
    presented = request.headers.get("x-api-key")
    if not presented:
        raise ApiProblem(401, "Missing X-API-Key header")
    config = sim.config
    key = _match(config.known_keys, presented)
    if key is None:
        raise ApiProblem(401, "Invalid API key")
    if key in config.expired_api_keys:
        raise ApiProblem(401, "This API key has expired")
    if key in config.revoked_api_keys:
        raise ApiProblem(401, "This API key has been revoked")
    if key in config.unauthorized_tier_keys:
        raise ApiProblem(
            402,
            {
                "error_code": "tier_not_authorized_for_integrations_api",
                "message": "Your plan does not include Integrations API access.",
                "bucket": bucket,
            },
        )
    wait = sim.buckets.take(key, bucket)
    if wait is not None:
        raise ApiProblem(
            429,
            {"error": f"Rate limit exceeded: too many {BUCKET_WORDS[bucket]}"},
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return Caller(key, workspace_for_key(key))


def caller_for(bucket: str):
    """A FastAPI dependency authenticating the request and charging ``bucket``.

    Async on purpose: it then runs on the event loop, like the routes, so the in-memory state
    is only ever touched from one thread.
    """

    async def dependency(request: Request, _key: str | None = Security(API_KEY_HEADER)) -> Caller:
        return authenticate(request, bucket)

    dependency.__name__ = f"caller_{bucket}"
    return dependency
