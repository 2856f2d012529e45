"""Every event id ever landed, for exact deduplication in the writer, in 8 bytes per event.

``raw_events.event_id`` is unique because the writer, the only process that writes the table,
lands an id only after this check says it is new. A DuckDB ``UNIQUE`` index did the same job
before, and cost more than the rest of a commit: its ART index is re-serialised by every
checkpoint (a stall that grows with the table, duckdb/duckdb#24848), it added ~26 µs of writer
CPU per event, and it must sit in memory at ~120 bytes per event.

Here each id is known by the first 8 bytes of its MD5 (DuckDB's ``md5_number_upper``, so the
table can be re-read at start-up without a Python loop) in a sorted NumPy array, plus a set of
the digests added since the array was last merged. The most recent ids are also kept as
strings (``RecentIds``): a sender's retry, the usual duplicate, is answered from memory. A
digest match for an older id is a *candidate*: the caller confirms it against the table, so a
digest collision (about one in 10^10 at a million events) costs a query, never an event.
"""

from __future__ import annotations

import hashlib

import numpy as np

MERGE_EVERY = 65_536  # digests kept in the set before they are merged into the sorted array


def digest(event_id: str) -> int:
    """The id's digest: equal to DuckDB's ``md5_number_upper(event_id)``."""
    return int.from_bytes(hashlib.md5(event_id.encode()).digest()[:8], "little")


class RecentIds:
    """Ids landed lately, in two generations: bounded memory, O(1) membership."""

    def __init__(self, capacity: int) -> None:
        self.generation = max(1, capacity // 2)
        self.current: set[str] = set()
        self.previous: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self.current or key in self.previous

    def __len__(self) -> int:
        return len(self.current) + len(self.previous)

    def add(self, key: str) -> None:
        self.current.add(key)
        if len(self.current) >= self.generation:
            self.previous, self.current = self.current, set()


class SeenIds:
    def __init__(self, digests: np.ndarray, recent: list[str], recent_capacity: int) -> None:
        """``digests``: of every landed id (any order); ``recent``: the latest ids, oldest
        first."""
        self.sorted = np.sort(np.asarray(digests, dtype=np.uint64))
        self.unmerged: set[int] = set()
        self.recent = RecentIds(recent_capacity)
        for key in recent:
            self.recent.add(key)

    def __len__(self) -> int:
        return len(self.sorted) + len(self.unmerged)

    def classify(self, keys: list[str]) -> tuple[list[bool], list[bool]]:
        """For each key: (landed for sure, maybe landed). "For sure" comes from the recent ids;
        "maybe" from a digest match, to be confirmed against the table."""
        known = [key in self.recent for key in keys]
        found = np.zeros(len(keys), dtype=bool)
        digests = np.fromiter((digest(key) for key in keys), dtype=np.uint64, count=len(keys))
        if len(self.sorted):
            at = np.minimum(np.searchsorted(self.sorted, digests), len(self.sorted) - 1)
            found = self.sorted[at] == digests
        maybe = [
            not sure and (bool(hit) or int(d) in self.unmerged)
            for sure, hit, d in zip(known, found, digests, strict=True)
        ]
        return known, maybe

    def add(self, keys: list[str]) -> None:
        """Remember ids that were just landed."""
        for key in keys:
            self.recent.add(key)
            self.unmerged.add(digest(key))
        if len(self.unmerged) >= MERGE_EVERY:
            fresh = np.sort(np.fromiter(self.unmerged, dtype=np.uint64, count=len(self.unmerged)))
            self.sorted = np.insert(self.sorted, np.searchsorted(self.sorted, fresh), fresh)
            self.unmerged = set()
