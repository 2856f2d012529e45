"""Which partition ranges a sensor tick requests (pure functions, no Dagster state).

A run covers one contiguous range of the ``submission`` partitions (in insertion order). New
submissions are registered in the tick that first sees them, so they are contiguous at the end;
a late event for an older submission (a retry, a delayed delivery) or a due pending retry is
not. Touched partitions are therefore grouped into clusters: neighbours merge while the
untouched partitions between them (re-processed for nothing, harmlessly) stay within
``max_gap``. At most ``max_runs`` clusters are requested per tick, those waiting longest
first; the rest are deferred to the next tick through the cursor, so runs stay bounded per
tick and nothing starves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PartitionRange:
    start: str
    end: str
    size: int  # partitions in the range, touched or not
    touched: int


@dataclass
class FeedCursor:
    """The sensor's cursor: the last feed seq handed to a run, and deferred submissions."""

    seq: int = 0
    deferred: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: str | None) -> FeedCursor:
        if not raw:
            return cls()
        if raw.isdigit():  # a plain seq (e.g. set by hand in the UI)
            return cls(int(raw))
        data = json.loads(raw)
        return cls(int(data.get("seq", 0)), list(data.get("deferred", [])))

    def dump(self) -> str:
        return json.dumps({"seq": self.seq, "deferred": self.deferred}, separators=(",", ":"))


def plan_ranges(
    order: Sequence[str],
    touched_by_priority: Sequence[str],
    *,
    max_gap: int,
    max_runs: int,
) -> tuple[list[PartitionRange], list[str]]:
    """Group touched partitions into ranges; returns (ranges to request, deferred ids).

    ``order`` is every partition key in partition order; ``touched_by_priority`` the touched
    keys, longest-waiting first (unknown keys are ignored).
    """
    position = {key: i for i, key in enumerate(order)}
    priority = {key: rank for rank, key in enumerate(dict.fromkeys(touched_by_priority))}
    indices = sorted(position[k] for k in priority if k in position)
    clusters: list[list[int]] = []
    for index in indices:
        if clusters and index - clusters[-1][-1] - 1 <= max_gap:
            clusters[-1].append(index)
        else:
            clusters.append([index])
    clusters.sort(key=lambda c: min(priority[order[i]] for i in c))
    chosen, rest = clusters[:max_runs], clusters[max_runs:]
    ranges = [
        PartitionRange(order[c[0]], order[c[-1]], c[-1] - c[0] + 1, len(c)) for c in sorted(chosen)
    ]
    deferred = [order[i] for c in rest for i in c]
    deferred.sort(key=priority.__getitem__)
    return ranges, deferred
