"""The landing writer on its own (real DuckDB file): a fixed memory limit, batches that commit
together, row group size."""

from __future__ import annotations

import json
import time

import duckdb

from receiver.writer import ROW_GROUP_ROWS, LandingWriter


def deliveries(start: int, count: int) -> list[tuple]:
    items = []
    for n in range(start, start + count):
        event_id = f"evt_{n:08d}"
        body = json.dumps({"id": event_id, "type": "asset.processing.completed"}).encode()
        items.append(
            (body, event_id, (event_id, None, None, "application/json", None), time.time())
        )
    return items


def duckdb_limit_mib(writer: LandingWriter) -> float:
    value = writer.conn.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    number, unit = value.split()
    assert unit == "MiB", value
    return float(number)


def test_a_table_far_larger_than_the_memory_limit_checkpoints(tmp_path):
    """No index on raw_events: DuckDB's working set does not grow with the table, so a fixed
    limit holds (a UNIQUE index's checkpoint failed a 32 MB limit at ~250,000 events)."""
    path = str(tmp_path / "landing.duckdb")
    writer = LandingWriter(path, memory_limit_mb=16, recent_ids=100)
    try:
        assert duckdb_limit_mib(writer) == 16
        padding = b" " * 1000
        for start in range(0, 40_000, 2_000):  # ~42 MB of bodies, past two checkpoints
            items = [(body + padding, *rest) for body, *rest in deliveries(start, 2_000)]
            writer.land(items)
        writer.conn.execute("CHECKPOINT landing")
    finally:
        writer.close()
    with duckdb.connect(path, read_only=True) as conn:
        assert conn.execute("SELECT count(*), max(seq) FROM raw_events").fetchall() == [
            (40_000, 40_000)
        ]


def test_batches_waiting_together_commit_in_one_transaction(tmp_path):
    """``land_requests`` is how the writer serves the batches that queued up while it was busy:
    one transaction, one answer per batch in order, duplicates across the batches landed once."""
    writer = LandingWriter(str(tmp_path / "landing.duckdb"), memory_limit_mb=64, recent_ids=100)
    try:
        writer.land(deliveries(0, 2))  # evt 0 and 1 landed before
        first = deliveries(1, 3)  # 1 (landed before), 2, 3
        second = deliveries(3, 2)  # 3 (again, in the same transaction), 4
        test_event = (b'{"id":"evt_t","type":"x","data":{"test":true}}', "evt_t", (None,) * 5, 0.0)
        answers = writer.land_requests([first, [*second, test_event]])
        assert [a[0] for a in answers] == ["landed", "landed"]
        assert answers[0][1] == ["evt_00000001", "evt_00000002", "evt_00000003"]
        assert answers[0][2] == [False, True, True]
        assert answers[1][1] == ["evt_00000003", "evt_00000004", "evt_t"]
        assert answers[1][2] == [False, True, True]
        # counts (unparseable, unknown type, test) belong to each batch's own new rows
        assert answers[0][3] == (0, 0, 0)
        assert answers[1][3] == (0, 1, 1)
        # both carry the seq after the commit; only the last tells the transaction's size
        assert answers[0][4] == answers[1][4] == 6
        assert (answers[0][5], answers[1][5]) == (None, 4)
        rows = writer.conn.execute("SELECT seq, event_id FROM raw_events ORDER BY seq").fetchall()
        assert rows == [
            (1, "evt_00000000"),
            (2, "evt_00000001"),
            (3, "evt_00000002"),
            (4, "evt_00000003"),
            (5, "evt_00000004"),
            (6, "evt_t"),
        ]
    finally:
        writer.close()


def test_raw_events_is_stored_in_small_row_groups(tmp_path):
    """A checkpoint rewrites the unfinished row group while commits wait; small groups keep that
    stall short (see ROW_GROUP_ROWS). The size is an ATTACH option, so check it reached the file."""
    writer = LandingWriter(str(tmp_path / "landing.duckdb"), memory_limit_mb=64, recent_ids=100)
    try:
        landed = 0
        while landed < 2 * ROW_GROUP_ROWS + 10:
            writer.land(deliveries(landed, 1000))
            landed += 1000
    finally:
        writer.close()  # checkpoints
    with duckdb.connect(str(tmp_path / "landing.duckdb"), read_only=True) as conn:
        groups = conn.execute(
            "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('raw_events')"
        ).fetchall()[0][0]
        assert conn.execute("SELECT count(*) FROM raw_events").fetchall() == [(landed,)]
    assert groups == -(-landed // ROW_GROUP_ROWS) == 3


def test_a_full_feed_page_reads_within_the_smallest_memory_limit(tmp_path):
    """The feed's largest page (8 MB of bodies) is read by a writer at the 16 MB floor."""
    writer = LandingWriter(str(tmp_path / "landing.duckdb"), memory_limit_mb=16, recent_ids=100)
    try:
        padding = b" " * 2000
        for start in range(0, 6_000, 2_000):
            writer.land([(body + padding, *rest) for body, *rest in deliveries(start, 2_000)])
        rows = writer.read_feed(0, 5_000, 8 * 2**20)
        assert 3_000 < len(rows) < 5_000  # cut by bytes, not by the count
        assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    finally:
        writer.close()
