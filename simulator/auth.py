"""API-key authentication and per-key, per-bucket token-bucket rate limits."""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from simulator.errors import ApiProblem
from simulator.state import workspace_for_key

# Declared for the OpenAPI document; the check itself is in authenticate().
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False)
KEY_PATTERN = re.compile(r"^sk_(live|test)_[0-9a-f]{64}$")
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


class TokenBuckets:
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


def authenticate(request: Request, bucket: str) -> Caller:
    sim = request.app.state.sim
    key = request.headers.get("x-api-key")
    if not key:
        raise ApiProblem(401, "Missing X-API-Key header")
    known = next((k for k in sim.config.api_keys if hmac.compare_digest(k, key)), None)
    if known is None or not KEY_PATTERN.match(known):
        raise ApiProblem(401, "Invalid API key")
    if known in sim.config.unauthorized_tier_keys:
        raise ApiProblem(
            402,
            {
                "error_code": "tier_not_authorized_for_integrations_api",
                "message": "Your plan does not include Integrations API access.",
                "bucket": bucket,
            },
        )
    wait = sim.buckets.take(known, bucket)
    if wait is not None:
        raise ApiProblem(
            429,
            {"error": f"Rate limit exceeded: too many {BUCKET_WORDS[bucket]}"},
            {"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    return Caller(known, workspace_for_key(known))


def caller_for(bucket: str):
    """A FastAPI dependency authenticating the request and charging ``bucket``."""

    def dependency(request: Request, _key: str | None = Security(API_KEY_HEADER)) -> Caller:
        return authenticate(request, bucket)

    dependency.__name__ = f"caller_{bucket}"
    return dependency
