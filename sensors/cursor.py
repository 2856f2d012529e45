"""The feed sensor's cursor: the last feed seq handed to a run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class FeedCursor:
    """``seq``: the last feed seq handed to a run. ``deferred``: submissions an older version
    of the sensor left for a later run (its cursor may still hold some); the next run
    re-processes them, and the cursor it writes no longer has any."""

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
        return json.dumps({"seq": self.seq}, separators=(",", ":"))
