"""Fault injection as a plain ASGI middleware (installed only when a fault is configured)."""

from __future__ import annotations

import asyncio
import json
import random

from simulator.config import FaultProfile

API_PREFIX = "/api/integrations"


class FaultInjector:
    def __init__(self, app, profile: FaultProfile, seed: int = 0) -> None:
        self.app = app
        self.profile = profile
        self.rng = random.Random(seed)
        self.injected = {429: 0, 500: 0, 502: 0}

    def _applies(self, path: str) -> bool:
        if not path.startswith(API_PREFIX):
            return False
        return not self.profile.paths or any(part in path for part in self.profile.paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self._applies(scope["path"]):
            return await self.app(scope, receive, send)
        p = self.profile
        if p.latency_ms:
            await asyncio.sleep(p.latency_ms / 1000)
        roll = self.rng.random()
        for status, rate in ((429, p.rate_429), (500, p.rate_500), (502, p.rate_502)):
            if roll < rate:
                self.injected[status] += 1
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
