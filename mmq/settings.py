"""One typed settings object for every component, read from ``MMQ_*`` environment variables.

Secrets are ``SecretStr`` so that they never show up in reprs, logs or tracebacks.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MMQ_", extra="ignore")

    # --- Integrations API (real or simulator) ---
    api_base_url: str = "http://127.0.0.1:8100"
    api_key: SecretStr | None = None
    api_timeout_seconds: float = Field(default=30.0, gt=0)
    api_max_concurrency: int = Field(default=16, ge=1, le=256)
    api_max_attempts: int = Field(default=6, ge=1, le=20)

    # --- receiver ---
    webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    feed_token: SecretStr | None = None
    receiver_url: str = "http://127.0.0.1:8000"
    receiver_host: str = "127.0.0.1"
    receiver_port: int = Field(default=8000, ge=1, le=65535)
    receiver_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    receiver_batch_max_events: int = Field(default=500, ge=1, le=100_000)
    receiver_batch_max_ms: float = Field(default=2.0, ge=0)
    # DuckDB's memory limit in the landing writer (docs/operations.md, "Memory").
    receiver_memory_limit_mb: int = Field(default=24, ge=16)

    # --- storage ---
    data_dir: Path = Path("data")

    # --- pipeline ---
    pipeline_max_events_per_run: int = Field(default=20_000, ge=1)
    pending_max_attempts: int = Field(default=8, ge=1)
    pending_backoff_seconds: float = Field(default=10.0, gt=0)
    pending_backoff_cap_seconds: float = Field(default=900.0, gt=0)
    pending_alert_seconds: float = Field(default=3600.0, gt=0)
    sensor_interval_seconds: int = Field(default=5, ge=1)
    reports_base_url: str | None = None  # where data/reports is served, for UI links

    # --- quality score: points lost per open issue of each severity ---
    score_weight_critical: int = Field(default=25, ge=0)
    score_weight_major: int = Field(default=10, ge=0)
    score_weight_minor: int = Field(default=3, ge=0)
    score_weight_info: int = Field(default=0, ge=0)

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        # Several secrets (rotation, several subscriptions) come space or comma separated.
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @cached_property
    def landing_path(self) -> Path:
        return self.data_dir / "landing.duckdb"

    @cached_property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @cached_property
    def analytics_path(self) -> Path:
        return self.data_dir / "analytics.duckdb"

    @cached_property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"


def get_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword overrides win (used by CLI flags and tests)."""
    return Settings(**overrides)
