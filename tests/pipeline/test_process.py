"""Which submissions a run works on, read back from the warehouse (`touched_submissions`)."""

from __future__ import annotations

import duckdb
import pytest

from mmq.warehouse.process import touched_submissions

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def conn(sample_warehouse):
    with duckdb.connect(str(sample_warehouse.analytics_path), read_only=True) as conn:
        yield conn


def feed_order(conn, after: int, until: int) -> list[str]:
    """Processed events' submissions in feed order, computed here in Python."""
    rows = conn.execute(
        "SELECT seq, submission_id, handling FROM webhook_events ORDER BY seq"
    ).fetchall()
    return list(
        dict.fromkeys(s for seq, s, h in rows if after < seq <= until and h == "processed" and s)
    )


def test_the_whole_feed_touches_every_submission_in_feed_order(conn, sample_warehouse):
    last = conn.execute("SELECT max(seq) FROM webhook_events").fetchall()[0][0]
    touched = touched_submissions(conn, 0, last)
    assert touched == feed_order(conn, 0, last)
    assert set(touched) == set(sample_warehouse.submission_ids)


def test_a_range_touches_only_its_events_plus_the_retries_once(conn):
    seqs = [r[0] for r in conn.execute("SELECT seq FROM webhook_events ORDER BY seq").fetchall()]
    after, until = seqs[len(seqs) // 3], seqs[2 * len(seqs) // 3]
    in_range = feed_order(conn, after, until)
    outside = [s for s in feed_order(conn, 0, seqs[-1]) if s not in in_range]
    assert in_range and outside
    retries = [outside[0], in_range[0], "sub_unknown"]
    touched = touched_submissions(conn, after, until, retries)
    assert touched == [*in_range, outside[0], "sub_unknown"]  # range first, no duplicates
    assert touched_submissions(conn, until, until, retries) == retries  # retry-only run
