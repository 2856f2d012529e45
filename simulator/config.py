"""Simulator configuration: keys, clock, failure shares, rate limits and fault injection."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mmq.contract import API_KEY_PATTERN

BUCKETS = (
    "upload",
    "submission_write",
    "submission_read",
    "webhook_write",
    "webhook_read",
    "sandbox",
)
DEFAULT_RETRY_SCHEDULE = (5, 60, 300, 1800, 7200, 18000)  # contract §7, in seconds
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class WebhookFaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duplicate_rate: float = Field(0.0, ge=0, le=1, description="share of events delivered twice")
    drop_rate: float = Field(0.0, ge=0, le=1, description="share of events never delivered")
    reorder_seconds: float = Field(0.0, ge=0, description="random extra delay, reorders events")
    fail_rate: float = Field(0.0, ge=0, le=1, description="share of attempts failing (retried)")
    slow_seconds: float = Field(0.0, ge=0, description="extra delay before each attempt")


class EndpointFaults(BaseModel):
    """Rates for the requests one ``endpoints`` key matches; unset fields inherit the profile's."""

    model_config = ConfigDict(extra="forbid")

    rate_429: float | None = Field(None, ge=0, le=1)
    rate_500: float | None = Field(None, ge=0, le=1)
    rate_502: float | None = Field(None, ge=0, le=1)
    latency_ms: float | None = Field(None, ge=0)


class FaultProfile(BaseModel):
    """Injected faults; everything off by default.

    ``rate_*`` and ``latency_ms`` apply to every API request (or, when ``paths`` is not empty, to
    those whose path contains one of its fragments). ``endpoints`` overrides them per endpoint:
    each key is a path fragment, optionally preceded by an HTTP method (``"GET /issues"``,
    ``"/topics"``, ``"POST /submissions"``); the longest matching key wins. A field an
    ``endpoints`` entry leaves unset takes the profile's value where that applies (so not on
    paths that ``paths`` excludes), else 0.
    """

    model_config = ConfigDict(extra="forbid")

    rate_429: float = Field(0.0, ge=0, le=1)
    rate_500: float = Field(0.0, ge=0, le=1)
    rate_502: float = Field(0.0, ge=0, le=1)
    retry_after_seconds: int = Field(1, ge=0, le=3600)
    latency_ms: float = Field(0.0, ge=0)
    paths: list[str] = Field(default_factory=list)
    endpoints: dict[str, EndpointFaults] = Field(default_factory=dict)
    webhooks: WebhookFaults = Field(default_factory=WebhookFaults)

    @model_validator(mode="after")
    def _rates_fit(self) -> FaultProfile:
        # The three rates share one roll per request, so together they cannot exceed 1.
        for name, faults in [("profile", self), *self.endpoints.items()]:
            inherits = faults is self or self._profile_may_apply(name)
            total = sum(
                getattr(faults, f)
                if getattr(faults, f) is not None
                else (getattr(self, f) if inherits else 0.0)
                for f in ("rate_429", "rate_500", "rate_502")
            )
            if total > 1:
                raise ValueError(f"{name}: rate_429 + rate_500 + rate_502 = {total:g} > 1")
        for key in self.endpoints:
            method, _, fragment = key.partition(" ")
            if fragment and method not in HTTP_METHODS:
                raise ValueError(f"endpoints key {key!r}: expected '[METHOD ]/path-fragment'")
        return self

    def _profile_may_apply(self, endpoint_key: str) -> bool:
        """Whether the profile-wide rates can reach paths an ``endpoints`` key matches: always
        without ``paths``; otherwise only when a ``paths`` fragment and the key's overlap."""
        fragment = endpoint_key.partition(" ")[2] or endpoint_key
        return not self.paths or any(p in fragment or fragment in p for p in self.paths)

    @property
    def api_faults_enabled(self) -> bool:
        return bool(self.rate_429 or self.rate_500 or self.rate_502 or self.latency_ms) or any(
            e.rate_429 or e.rate_500 or e.rate_502 or e.latency_ms for e in self.endpoints.values()
        )

    @classmethod
    def from_file(cls, path: Path | str) -> FaultProfile:
        path = Path(path)
        text = path.read_text()
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
        if data is not None and not isinstance(data, dict):
            raise ValueError(f"{path}: a fault profile is a mapping, got {type(data).__name__}")
        return cls.model_validate(data or {})


class SimulatorConfig(BaseModel):
    # hide_input_in_errors: a rejected config must not print the API keys it holds.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    api_keys: list[str] = Field(default_factory=list)
    # Keys that authenticate but whose plan lacks API access: every request answers 402.
    unauthorized_tier_keys: list[str] = Field(default_factory=list)
    # Keys that are known but no longer valid: 401 with the contract's own wording.
    expired_api_keys: list[str] = Field(default_factory=list)
    revoked_api_keys: list[str] = Field(default_factory=list)
    time_scale: float = Field(1.0, gt=0, description="multiplies processing times and retry delays")
    processing_seconds: tuple[float, float] = (2.0, 8.0)
    failure_rate: float = Field(0.08, ge=0, le=1)
    retryable_share: float = Field(0.6, ge=0, le=1)
    retry_cap: int = Field(3, ge=0)
    subscription_limit: int = Field(10, ge=1)
    allow_insecure_endpoints: bool = False
    rate_limit_per_second: float = Field(1000.0, gt=0)
    rate_limit_burst: int = Field(2000, ge=1)
    rate_limits: dict[str, float] = Field(default_factory=dict, description="per-bucket override")
    # httpx slows down with many requests in flight on one client (encode/httpx#3215): on
    # loopback 8 workers deliver about twice as fast as 64 (bench/bench_simulator.py).
    delivery_concurrency: int = Field(8, ge=1, le=1024)
    delivery_timeout_seconds: float = Field(15.0, gt=0)
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE)
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="cap on JSON request bodies")
    faults: FaultProfile = Field(default_factory=FaultProfile)
    seed: int = 0

    @field_validator("api_keys", "unauthorized_tier_keys", "expired_api_keys", "revoked_api_keys")
    @classmethod
    def _well_formed_keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            if not API_KEY_PATTERN.match(key):
                # Never echo the key itself: it is a secret even when malformed.
                raise ValueError(
                    f"an API key ({key[:8]}…) is not sk_live_ or sk_test_ followed by 64 hex digits"
                )
        return keys

    @field_validator("rate_limits")
    @classmethod
    def _known_buckets(cls, limits: dict[str, float]) -> dict[str, float]:
        unknown = set(limits) - set(BUCKETS)
        if unknown:
            raise ValueError(f"unknown rate-limit buckets {sorted(unknown)}; known: {BUCKETS}")
        if any(rate <= 0 for rate in limits.values()):
            raise ValueError("rate limits must be > 0 requests/s")
        return limits

    @field_validator("retry_schedule_seconds")
    @classmethod
    def _non_negative(cls, schedule: list[float]) -> list[float]:
        if any(delay < 0 for delay in schedule):
            raise ValueError("retry delays must be >= 0 seconds")
        return schedule

    @model_validator(mode="after")
    def _processing_window(self) -> SimulatorConfig:
        low, high = self.processing_seconds
        if not 0 <= low <= high:
            raise ValueError("processing_seconds must be (low, high) with 0 <= low <= high")
        return self

    @property
    def known_keys(self) -> list[str]:
        """Every key the simulator recognises, in any state."""
        return [
            *self.api_keys,
            *self.unauthorized_tier_keys,
            *self.expired_api_keys,
            *self.revoked_api_keys,
        ]
