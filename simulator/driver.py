"""Scenario driver: creates submissions over time through the API client, like a real customer.

Used by ``mmq simulator --scenario``, the demo and the benchmarks, so none of them needs curl.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mmq.client import AsyncMediaMagicClient, Conflict

FILES = (
    ("spring-campaign-{n}.mp4", "video/mp4"),
    ("radio-spot-{n}.mp3", "audio/mpeg"),
    ("banner-{n}.png", "image/png"),
    ("leaflet-{n}.pdf", "application/pdf"),
    ("tv-edit-{n}.mov", "video/quicktime"),
    ("social-{n}.jpg", "image/jpeg"),
)


@dataclass
class ScenarioResult:
    submission_ids: list[str] = field(default_factory=list)
    asset_ids: list[str] = field(default_factory=list)
    retries: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{len(self.submission_ids)} submissions, {len(self.asset_ids)} assets, "
            f"{self.retries} retries in {self.seconds:.1f}s"
        )


def load_scenario(path: Path | str) -> dict:
    """Scenario file (JSON or YAML) holding run_scenario's keyword arguments."""
    path = Path(path)
    text = path.read_text()
    data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a scenario is a mapping of options, got {type(data).__name__}")
    allowed = {
        "submissions",
        "assets_per_submission",
        "duration_seconds",
        "concurrency",
        "retry_failed",
        "seed",
    }
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(
            f"{path}: unknown scenario options {sorted(unknown)}; allowed {sorted(allowed)}"
        )
    if "assets_per_submission" in data:
        data["assets_per_submission"] = tuple(data["assets_per_submission"])
    return data


async def run_scenario_async(
    base_url: str,
    api_key: str,
    *,
    submissions: int = 50,
    assets_per_submission: tuple[int, int] = (1, 6),
    duration_seconds: float = 20.0,
    concurrency: int = 8,
    retry_failed: bool = True,
    seed: int = 0,
    settle_timeout: float = 300.0,
    on_progress: Callable[[str, int], None] | None = None,
    client: AsyncMediaMagicClient | None = None,
) -> ScenarioResult:
    rng = random.Random(seed)
    result = ScenarioResult()
    started = time.monotonic()
    own_client = client is None
    client = client or AsyncMediaMagicClient(base_url, api_key, max_concurrency=concurrency)
    gate = asyncio.Semaphore(concurrency)
    run_tag = f"{seed}-{int(time.time() * 1000) % 10_000_000}"

    async def one(index: int) -> None:
        await asyncio.sleep(duration_seconds * index / max(1, submissions))
        async with gate:
            count = rng.randint(*assets_per_submission)
            paths = []
            for k in range(count):
                pattern, content_type = FILES[(index + k) % len(FILES)]
                name = pattern.format(n=f"{run_tag}-{index}-{k}")
                paths.append(
                    await client.upload(name, b"demo-bytes-" + name.encode(), content_type)
                )
            created = await client.create_submission(
                paths, metadata={"campaign": f"campaign-{index % 7}", "scenario": run_tag}
            )
        result.submission_ids.append(created.submission_id)
        result.asset_ids.extend(a.asset_id for a in created.assets)
        if on_progress:
            on_progress("submitted", len(result.submission_ids))
        if retry_failed:
            await _retry_until_settled(client, created.submission_id, result, settle_timeout)

    try:
        await asyncio.gather(*(one(i) for i in range(submissions)))
    finally:
        if own_client:
            await client.aclose()
    result.seconds = time.monotonic() - started
    return result


async def _retry_until_settled(client, submission_id: str, result: ScenarioResult, timeout: float):
    """Poll a submission until terminal; retry its retryable failed assets (as a customer would)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await client.get_submission(submission_id)
        if status.status in ("complete", "failed"):
            retryable = [a for a in status.assets if a.status == "failed" and a.is_retryable]
            if not retryable:
                return
            for asset in retryable:
                try:
                    await client.retry_asset(submission_id, asset.asset_id)
                    result.retries += 1
                except Conflict:
                    pass  # cap reached or already retrying: settled as far as we are concerned
        await asyncio.sleep(0.5)


def run_scenario(base_url: str, api_key: str, **options) -> ScenarioResult:
    """Blocking wrapper around :func:`run_scenario_async`."""
    return asyncio.run(run_scenario_async(base_url, api_key, **options))
