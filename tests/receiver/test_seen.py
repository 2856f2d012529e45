"""Exact deduplication without a DuckDB index: recent ids, digests of all, confirmation."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from receiver import seen
from receiver.seen import SeenIds, digest
from receiver.writer import LandingWriter
from tests.receiver.test_writer import deliveries


def test_digest_is_duckdbs_md5_number_upper():
    keys = ["evt_0", "evt_9f1c", "msg_2", "é-ünïcode-✓", "x" * 255]
    with duckdb.connect() as conn:
        expected = conn.execute(
            "SELECT md5_number_upper(k) FROM unnest(?) WITH ORDINALITY t(k, i) ORDER BY i", [keys]
        ).fetchall()
    assert [digest(key) for key in keys] == [value for (value,) in expected]


def test_recent_ids_are_sure_older_ones_give_the_seqs_to_compare(monkeypatch):
    monkeypatch.setattr(seen, "MERGE_EVERY", 4)
    history = np.array([digest("evt_old"), digest("evt_recent")], dtype=np.uint64)
    ids = SeenIds(history, np.array([1, 2]), ["evt_recent"], 2)  # window: the last id only
    ids.add([f"evt_{n}" for n in range(5)], 3)  # 5 >= MERGE_EVERY: merged into the arrays
    ids.add(["evt_5"], 8)
    ids.add(["evt_6"], 9)
    assert (len(ids), len(ids.digests), ids.unmerged_count) == (9, 7, 2)
    known, seqs = ids.candidates(["evt_6", "evt_5", "evt_4", "evt_old", "evt_recent", "evt_new"])
    assert known == [True, False, False, False, False, False]
    assert seqs == [[], [8], [7], [1], [2], []]


def test_ids_sharing_a_digest_keep_every_seq(monkeypatch):
    monkeypatch.setattr(seen, "digest", lambda key: 7)
    monkeypatch.setattr(seen, "MERGE_EVERY", 3)
    ids = SeenIds(np.array([7], dtype=np.uint64), np.array([1]), [], 1)
    ids.add(["a", "b"], 2)
    assert ids.candidates(["x"]) == ([False], [[1, 2, 3]])  # from the arrays and the dict
    ids.add(["c"], 4)  # merged
    assert ids.candidates(["x"]) == ([False], [[1, 2, 3, 4]])


def test_empty_history_knows_nothing():
    ids = SeenIds(np.array([], dtype=np.uint64), np.array([], dtype=np.int64), [], 10)
    assert ids.candidates(["evt_a", "evt_b"]) == ([False, False], [[], []])


@pytest.fixture
def colliding_digests(monkeypatch):
    """Every id gets the same digest: the worst case of a collision."""
    monkeypatch.setattr(seen, "digest", lambda key: 7)


def test_a_digest_collision_costs_a_query_never_an_event(tmp_path, colliding_digests):
    writer = LandingWriter(str(tmp_path / "landing.duckdb"), memory_limit_mb=64, recent_ids=2)
    try:
        writer.land(deliveries(0, 5))
        # all new ids "match" a digest; the table says they are new, so they land
        _, is_new, _ = writer.land(deliveries(5, 5))
        assert is_new == [True] * 5
        # an old id (out of the 2 recent ones) is a true duplicate: confirmed, not landed
        ids, is_new, _ = writer.land(deliveries(0, 1) + deliveries(10, 1))
        assert (ids, is_new) == (["evt_00000000", "evt_00000010"], [False, True])
        count = writer.conn.execute("SELECT count(*), count(DISTINCT event_id) FROM raw_events")
        assert count.fetchall() == [(11, 11)]
    finally:
        writer.close()


def test_a_restarted_writer_knows_every_landed_id(tmp_path):
    path = str(tmp_path / "landing.duckdb")
    writer = LandingWriter(path, memory_limit_mb=64, recent_ids=2)
    try:
        writer.land(deliveries(0, 50))
    finally:
        writer.close()
    again = LandingWriter(path, memory_limit_mb=64, recent_ids=2)
    try:
        assert len(again.seen) == 50
        ids, is_new, _ = again.land(deliveries(0, 1) + deliveries(48, 3))
        assert is_new == [False, False, False, True]
        assert ids[-1] == "evt_00000050" and again.last_seq == 51
    finally:
        again.close()
