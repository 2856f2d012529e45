"""The sample warehouse the report and notebook tests use matches the simulator's truth."""

import duckdb


def test_sample_warehouse_matches_ground_truth(sample_warehouse):
    truth = sample_warehouse.ground_truth["submissions"]
    with duckdb.connect(str(sample_warehouse.analytics_path), read_only=True) as conn:
        issues = dict(conn.sql("SELECT asset_id, count(*) FROM issues GROUP BY 1").fetchall())
        statuses = dict(conn.sql("SELECT asset_id, status FROM assets").fetchall())
        quality = conn.sql("SELECT count(*) FROM submission_quality").fetchall()[0][0]
    expected_issues = {
        aid: a["issue_count"]
        for s in truth.values()
        for aid, a in s["assets"].items()
        if a["issue_count"]
    }
    assert issues == expected_issues
    assert statuses == {aid: a["status"] for s in truth.values() for aid, a in s["assets"].items()}
    assert quality == len(truth)


def test_sample_warehouse_has_receiver_stats(sample_warehouse):
    with duckdb.connect(str(sample_warehouse.analytics_path), read_only=True) as conn:
        accepted, latest = conn.sql("SELECT accepted, latest_seq FROM receiver_stats").fetchall()[0]
    assert accepted == latest == sample_warehouse.event_count
