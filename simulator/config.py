"""Simulator configuration: keys, clock, failure shares, rate limits and fault injection."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

BUCKETS = (
    "upload",
    "submission_write",
    "submission_read",
    "webhook_write",
    "webhook_read",
    "sandbox",
)


class WebhookFaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duplicate_rate: float = Field(0.0, ge=0, le=1, description="share of events delivered twice")
    drop_rate: float = Field(0.0, ge=0, le=1, description="share of events never delivered")
    reorder_seconds: float = Field(0.0, ge=0, description="random extra delay, reorders events")
    fail_rate: float = Field(0.0, ge=0, le=1, description="share of attempts failing (retried)")
    slow_seconds: float = Field(0.0, ge=0, description="extra delay before each attempt")


class FaultProfile(BaseModel):
    """Injected faults; everything off by default."""

    model_config = ConfigDict(extra="forbid")

    rate_429: float = Field(0.0, ge=0, le=1)
    rate_500: float = Field(0.0, ge=0, le=1)
    rate_502: float = Field(0.0, ge=0, le=1)
    retry_after_seconds: int = Field(1, ge=0)
    latency_ms: float = Field(0.0, ge=0)
    # Path fragments the API faults apply to; empty = every API path.
    paths: list[str] = Field(default_factory=list)
    webhooks: WebhookFaults = Field(default_factory=WebhookFaults)

    @classmethod
    def from_file(cls, path: Path) -> FaultProfile:
        text = Path(path).read_text()
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
        return cls.model_validate(data or {})


class SimulatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_keys: list[str] = Field(default_factory=list)
    # Keys whose plan lacks API access: every request answers 402.
    unauthorized_tier_keys: list[str] = Field(default_factory=list)
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
    delivery_concurrency: int = Field(64, ge=1)
    delivery_timeout_seconds: float = Field(15.0, gt=0)
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [5, 60, 300, 1800, 7200, 18000]
    )
    faults: FaultProfile = Field(default_factory=FaultProfile)
    seed: int = 0
