"""Fault injection as a plain ASGI middleware (installed only when an API fault is configured).

Injected answers are counted in ``counts`` (by status code), so a test can tell an injected 500
from one the simulator produced by itself.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass

from mmq.contract import API_PREFIX
from simulator.config import FaultProfile

__all__ = ["API_PREFIX", "FaultInjector", "Rates"]


@dataclass(frozen=True, slots=True)
class Rates:
    rate_429: float
    rate_500: float
    rate_502: float
    latency_ms: float


def rates_for(profile: FaultProfile, method: str, path: str) -> Rates | None:
    """The rates that apply to one request, or None when none do."""
    if not path.startswith(API_PREFIX):
        return None
    best_key, best = "", None
    for key, faults in profile.endpoints.items():
        wanted_method, _, fragment = key.partition(" ")
        if not fragment:
            wanted_method, fragment = "", key
        if wanted_method and wanted_method != method:
            continue
        if fragment in path and len(key) > len(best_key):
            best_key, best = key, faults
    # ``paths`` limits the profile-wide rates, also where an endpoint key leaves a field unset.
    profile_applies = not profile.paths or any(part in path for part in profile.paths)
    if best is None and not profile_applies:
        return None

    def pick(name: str) -> float:
        value = getattr(best, name) if best is not None else None
        if value is not None:
            return value
        return getattr(profile, name) if profile_applies else 0.0

    return Rates(pick("rate_429"), pick("rate_500"), pick("rate_502"), pick("latency_ms"))


class FaultInjector:
    def __init__(self, app, profile: FaultProfile, seed: int = 0, counts: Counter | None = None):
        self.app = app
        self.profile = profile
        self.rng = random.Random(seed)
        self.counts: Counter[int] = counts if counts is not None else Counter()

    @property
    def injected(self) -> Counter[int]:  # the first version's name
        return self.counts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rates = rates_for(self.profile, scope["method"], scope["path"])
        if rates is None:
            return await self.app(scope, receive, send)
        if rates.latency_ms:
            await asyncio.sleep(rates.latency_ms / 1000)
        roll = self.rng.random()
        for status, rate in ((429, rates.rate_429), (500, rates.rate_500), (502, rates.rate_502)):
            if roll < rate:
                self.counts[status] += 1
                return await self._reply(send, status)
            roll -= rate
        return await self.app(scope, receive, send)

    async def _reply(self, send, status: int) -> None:
        if status == 429:
            body = {"error": "Rate limit exceeded: too many requests (injected)"}
        elif status == 502:
            body = {"detail": "Failed to load result blob (injected)"}
        else:
            body = {"detail": "Internal server error (injected)"}
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if status == 429:
            headers.append((b"retry-after", str(self.profile.retry_after_seconds).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
