"""Range planning for sensor ticks and the sensor cursor (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.planning import FeedCursor, plan_ranges

ORDER = [f"s{i:03d}" for i in range(300)]


def test_new_submissions_form_one_range():
    ranges, deferred = plan_ranges(ORDER, ORDER[250:], max_gap=50, max_runs=3)
    assert [(r.start, r.end, r.size, r.touched) for r in ranges] == [("s250", "s299", 50, 50)]
    assert deferred == []


def test_a_late_event_close_behind_joins_the_main_range():
    touched = ["s280", "s281", "s240"]
    ranges, deferred = plan_ranges(ORDER, touched, max_gap=50, max_runs=3)
    assert [(r.start, r.end, r.touched) for r in ranges] == [("s240", "s281", 3)]
    assert deferred == []


def test_late_events_far_back_get_their_own_bounded_ranges():
    touched = ["s290", "s291", "s010", "s100"]
    ranges, deferred = plan_ranges(ORDER, touched, max_gap=50, max_runs=3)
    assert [(r.start, r.end) for r in ranges] == [
        ("s010", "s010"),
        ("s100", "s100"),
        ("s290", "s291"),
    ]
    assert deferred == []


def test_beyond_max_runs_the_latest_waiters_are_deferred_and_deferred_go_first_next_time():
    touched = ["s290", "s005", "s100", "s200"]
    ranges, deferred = plan_ranges(ORDER, touched, max_gap=10, max_runs=2)
    assert [(r.start, r.end) for r in ranges] == [("s005", "s005"), ("s290", "s290")]
    assert deferred == ["s100", "s200"]
    # Next tick: the deferred ones lead, ahead of fresh work.
    ranges, deferred = plan_ranges(ORDER, [*deferred, "s299"], max_gap=10, max_runs=2)
    assert [(r.start, r.end) for r in ranges] == [("s100", "s100"), ("s200", "s200")]
    assert deferred == ["s299"]


def test_unknown_partitions_are_ignored():
    ranges, deferred = plan_ranges(ORDER, ["nope", "s001"], max_gap=5, max_runs=1)
    assert [(r.start, r.end) for r in ranges] == [("s001", "s001")]
    assert deferred == []


@given(
    st.lists(st.integers(0, 299), unique=True, max_size=60),
    st.integers(0, 60),
    st.integers(1, 5),
)
def test_every_touched_partition_is_covered_or_deferred_exactly_once(indices, gap, runs):
    touched = [ORDER[i] for i in indices]
    ranges, deferred = plan_ranges(ORDER, touched, max_gap=gap, max_runs=runs)
    assert len(ranges) <= runs
    covered = set()
    for r in ranges:
        start, end = ORDER.index(r.start), ORDER.index(r.end)
        assert r.size == end - start + 1
        assert r.size - r.touched <= gap * max(1, r.touched - 1)  # bounded waste
        covered |= {k for k in touched if start <= ORDER.index(k) <= end}
    assert covered.isdisjoint(deferred)
    assert covered | set(deferred) == set(touched)
    assert len(deferred) == len(set(deferred))


@pytest.mark.parametrize(
    ("raw", "seq", "deferred"),
    [(None, 0, []), ("", 0, []), ("42", 42, []), ('{"seq": 7, "deferred": ["a"]}', 7, ["a"])],
)
def test_cursor_parses_plain_and_json(raw, seq, deferred):
    cursor = FeedCursor.parse(raw)
    assert (cursor.seq, cursor.deferred) == (seq, deferred)
    assert FeedCursor.parse(cursor.dump()) == cursor
