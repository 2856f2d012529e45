"""Every event id ever landed, for exact deduplication in the writer, in 16 bytes per event.

``raw_events.event_id`` is unique because the writer, the only process that writes the table,
lands an id only after this check says it is new. A DuckDB ``UNIQUE`` index did the same job
before, and cost more than the rest of a commit: its ART index is re-serialised by every
checkpoint (a stall that grows with the table, duckdb/duckdb#24848), it added ~26 µs of writer
CPU per event, and it must sit in memory at ~120 bytes per event.

Here each landed id is known by the first 8 bytes of its MD5 (DuckDB's ``md5_number_upper``, so
the table is re-read at start-up without a Python loop) and its ``seq``, in two NumPy arrays
sorted by digest, plus a dict of those added since the last merge. The most recent ids are also
kept as strings (``RecentIds``): a sender's quick retry, the usual duplicate, is answered from
memory. A digest match on an older id gives the ``seq`` of the row to compare with, a point
read that skips all other row groups; so a digest collision (about one in 10^8 at a million
events) costs a read, never an event.
"""

from __future__ import annotations

import hashlib

import numpy as np

MERGE_EVERY = 16_384  # digests kept in the dict before they are merged into the sorted arrays


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
    def __init__(
        self, digests: np.ndarray, seqs: np.ndarray, recent: list[str], recent_capacity: int
    ) -> None:
        """``digests`` and ``seqs``: of every landed row (any order); ``recent``: the latest
        ids, oldest first."""
        order = np.argsort(np.asarray(digests, dtype=np.uint64), kind="stable")
        self.digests = np.asarray(digests, dtype=np.uint64)[order]
        self.seqs = np.asarray(seqs, dtype=np.int64)[order]
        self.unmerged: dict[int, int | tuple[int, ...]] = {}  # a tuple only on a collision
        self.unmerged_count = 0
        self.recent = RecentIds(recent_capacity)
        for key in recent:
            self.recent.add(key)

    def __len__(self) -> int:
        return len(self.digests) + self.unmerged_count

    def candidates(self, keys: list[str]) -> tuple[list[bool], list[list[int]]]:
        """For each key: landed for sure (a recent id), and else the seqs of landed rows whose
        id has the same digest, to compare with (none: the id is new)."""
        known = [key in self.recent for key in keys]
        digests = np.fromiter((digest(key) for key in keys), dtype=np.uint64, count=len(keys))
        low = np.searchsorted(self.digests, digests, side="left")
        high = np.searchsorted(self.digests, digests, side="right")
        found: list[list[int]] = []
        for sure, value, start, end in zip(known, digests.tolist(), low, high, strict=True):
            seqs = [] if sure or start == end else self.seqs[start:end].tolist()
            extra = None if sure else self.unmerged.get(value)
            if extra is not None:
                seqs.extend(extra if isinstance(extra, tuple) else (extra,))
            found.append(seqs)
        return known, found

    def add(self, keys: list[str], first_seq: int) -> None:
        """Remember ids just landed, with seqs first_seq, first_seq + 1, …"""
        for seq, key in enumerate(keys, start=first_seq):
            self.recent.add(key)
            value = digest(key)
            before = self.unmerged.get(value)
            if before is None:
                self.unmerged[value] = seq
            else:  # two ids, one digest: keep both seqs
                self.unmerged[value] = (*(before if isinstance(before, tuple) else (before,)), seq)
        self.unmerged_count += len(keys)
        if self.unmerged_count >= MERGE_EVERY:
            self._merge()

    def _merge(self) -> None:
        pairs = [
            (value, seq)
            for value, seqs in self.unmerged.items()
            for seq in (seqs if isinstance(seqs, tuple) else (seqs,))
        ]
        pairs.sort()
        fresh = np.fromiter((value for value, _ in pairs), dtype=np.uint64, count=len(pairs))
        seqs = np.fromiter((seq for _, seq in pairs), dtype=np.int64, count=len(pairs))
        at = np.searchsorted(self.digests, fresh, side="right")
        self.digests = np.insert(self.digests, at, fresh)
        self.seqs = np.insert(self.seqs, at, seqs)
        self.unmerged = {}
        self.unmerged_count = 0
