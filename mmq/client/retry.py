"""Retry policy (tenacity): only 429 (honouring Retry-After), 500, 502 and transport errors,
with capped exponential backoff and full jitter. Everything else fails at once."""

from __future__ import annotations

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

RETRY_STATUSES = frozenset({429, 500, 502})


class RetryableResponse(Exception):
    """Carries a retryable response through tenacity; turned into an ApiError when retries end."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response

    @property
    def retry_after(self) -> float | None:
        value = self.response.headers.get("retry-after")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None


class RetryAfterOrBackoff:
    """Wait what the server asked for (capped), else exponential backoff with jitter."""

    def __init__(self, backoff_max: float, base: float = 0.25) -> None:
        self.backoff_max = backoff_max
        self.backoff = wait_random_exponential(multiplier=base, max=backoff_max)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableResponse) and exc.retry_after is not None:
            return min(exc.retry_after, self.backoff_max)
        return self.backoff(state)


def retrying(max_attempts: int, backoff_max: float) -> AsyncRetrying:
    return AsyncRetrying(
        stop=stop_after_attempt(max_attempts),
        wait=RetryAfterOrBackoff(backoff_max),
        retry=retry_if_exception_type((RetryableResponse, httpx.TransportError)),
        reraise=True,
    )
