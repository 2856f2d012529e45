"""The landing writer on its own (real DuckDB file): memory sized to the table, under a ceiling."""

from __future__ import annotations

import json
import time

import duckdb

from receiver.writer import MEMORY_BASE, MEMORY_PER_EVENT, MEMORY_STEP_EVENTS, LandingWriter

MIB = 2**20


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


def test_memory_limit_grows_with_the_landed_events(tmp_path):
    writer = LandingWriter(str(tmp_path / "landing.duckdb"), memory_ceiling_mb=2048, recent_ids=100)
    try:
        first = (MEMORY_BASE + MEMORY_STEP_EVENTS * MEMORY_PER_EVENT) // MIB
        assert duckdb_limit_mib(writer) == first
        landed = 0
        while landed < MEMORY_STEP_EVENTS:  # the resize comes with the commit reaching the step
            writer.land(deliveries(landed, 1000))
            landed += 1000
        grown = (MEMORY_BASE + (landed + MEMORY_STEP_EVENTS) * MEMORY_PER_EVENT) // MIB
        assert duckdb_limit_mib(writer) == grown > first
    finally:
        writer.close()
    # a new writer on the same file sizes for what is there already
    again = LandingWriter(str(tmp_path / "landing.duckdb"), memory_ceiling_mb=2048, recent_ids=100)
    try:
        assert duckdb_limit_mib(again) == grown
    finally:
        again.close()


def test_memory_limit_stops_at_the_ceiling(tmp_path):
    writer = LandingWriter(str(tmp_path / "landing.duckdb"), memory_ceiling_mb=20, recent_ids=100)
    try:
        assert duckdb_limit_mib(writer) == 20  # below what the table alone would be given
        writer.land(deliveries(0, 10))
        assert writer.conn.execute("SELECT count(*) FROM raw_events").fetchall() == [(10,)]
    finally:
        writer.close()
    with duckdb.connect(str(tmp_path / "landing.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT max(seq) FROM raw_events").fetchall() == [(10,)]
