"""A blocking facade over the async client, for the CLI and scripts.

It owns a private event loop and runs each coroutine method to completion on it, so the request,
retry and model code exists once.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from mmq.client.async_client import AsyncMediaMagicClient


class MediaMagicClient:
    """Same methods as :class:`AsyncMediaMagicClient`, blocking. Use as a context manager."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._async = self._loop.run_until_complete(self._build(args, kwargs))

    @staticmethod
    async def _build(args, kwargs) -> AsyncMediaMagicClient:
        return AsyncMediaMagicClient(*args, **kwargs)  # its semaphore binds to our loop

    @classmethod
    def from_settings(cls, settings, **overrides: Any) -> MediaMagicClient:
        client = cls.__new__(cls)
        client._loop = asyncio.new_event_loop()

        async def build() -> AsyncMediaMagicClient:
            return AsyncMediaMagicClient.from_settings(settings, **overrides)

        client._async = client._loop.run_until_complete(build())
        return client

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._async, name)
        if not inspect.iscoroutinefunction(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(target(*args, **kwargs))

        call.__name__ = name
        call.__doc__ = target.__doc__
        return call

    def __repr__(self) -> str:
        return f"MediaMagicClient(base_url={self._async.base_url!r}, api_key='**********')"

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._async.aclose())
            self._loop.close()

    def __enter__(self) -> MediaMagicClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
