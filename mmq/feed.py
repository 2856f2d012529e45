"""Client of the receiver's event feed (``GET /events?after=<seq>&limit=<n>``).

The Dagster sensor uses it to see what is new, and the ingest run to read exactly the seq
range its sensor tick assigned to it. Neither ever opens the receiver's DuckDB file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

FEED_PAGE_LIMIT = 5000  # the receiver's maximum page size


class FeedUnavailable(RuntimeError):
    """The receiver could not be reached or refused the request."""


@dataclass(frozen=True, slots=True)
class FeedPage:
    events: list[dict]
    next_after: int
    has_more: bool
    latest_seq: int


class ReceiverFeed:
    def __init__(self, base_url: str, token: str | SecretStr, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self.timeout = timeout

    def __repr__(self) -> str:  # never the token
        return f"ReceiverFeed(base_url={self.base_url!r}, token='**********')"

    def page(self, after: int, limit: int = 1000) -> FeedPage:
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        params = {"after": after, "limit": min(limit, FEED_PAGE_LIMIT)}
        try:
            response = httpx.get(
                f"{self.base_url}/events", params=params, headers=headers, timeout=self.timeout
            )
        except httpx.HTTPError as error:
            raise FeedUnavailable(
                f"receiver feed at {self.base_url} unreachable: {type(error).__name__}: {error}"
            ) from None
        if response.status_code != 200:
            raise FeedUnavailable(
                f"receiver feed at {self.base_url} answered {response.status_code}: "
                f"{response.text[:200]}"
            )
        data = response.json()
        return FeedPage(
            events=data["events"],
            next_after=int(data["next_after"]),
            has_more=bool(data["has_more"]),
            latest_seq=int(data["latest_seq"]),
        )

    def metrics(self) -> dict[str, object]:
        """The receiver's Prometheus counters, by sample name (``{cause}`` labels folded in)."""
        try:
            response = httpx.get(f"{self.base_url}/metrics", timeout=self.timeout)
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise FeedUnavailable(f"receiver metrics unavailable: {error}") from None
        samples: dict[str, object] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.labels:
                    label = ",".join(str(v) for v in sample.labels.values())
                    samples.setdefault(sample.name, {})[label] = sample.value  # type: ignore[index]
                else:
                    samples[sample.name] = sample.value
        return samples

    def iter_range(self, after: int, until: int, page_size: int = 2000) -> Iterator[dict]:
        """Every event with ``after < seq <= until``, in seq order."""
        cursor = after
        while cursor < until:
            page = self.page(cursor, min(page_size, until - cursor))
            for event in page.events:
                if event["seq"] > until:
                    return
                yield event
            if not page.events:
                return
            cursor = page.next_after
