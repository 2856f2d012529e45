"""The feed sensor's cursor (plain values, no Dagster state)."""

from __future__ import annotations

import json

import pytest

from sensors.cursor import FeedCursor


@pytest.mark.parametrize(
    ("raw", "seq", "deferred"),
    [
        (None, 0, []),
        ("", 0, []),
        ("42", 42, []),  # set by hand in the UI
        ('{"seq": 7}', 7, []),
        ('{"seq": 7, "deferred": ["a"]}', 7, ["a"]),  # written by the older, ranged sensor
    ],
)
def test_cursor_parses_plain_json_and_older_cursors(raw, seq, deferred):
    cursor = FeedCursor.parse(raw)
    assert (cursor.seq, cursor.deferred) == (seq, deferred)


def test_cursor_dumps_only_the_seq():
    dumped = FeedCursor(9, ["a"]).dump()
    assert json.loads(dumped) == {"seq": 9}
    assert FeedCursor.parse(dumped) == FeedCursor(9)
