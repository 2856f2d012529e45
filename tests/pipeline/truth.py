"""Compare the published tables with the simulator's ground truth, exactly."""

from __future__ import annotations

from collections import Counter, defaultdict

import duckdb


def warehouse_view(conn: duckdb.DuckDBPyConnection) -> dict:
    """The same shape as ``SimulatorState.ground_truth()``, rebuilt from the tables."""
    severity: dict[str, Counter] = defaultdict(Counter)
    status: dict[str, Counter] = defaultdict(Counter)
    orphans: Counter = Counter()
    for asset_id, sev, st, orphan in conn.execute(
        "SELECT asset_id, severity, status, is_orphan FROM issues"
    ).fetchall():
        severity[asset_id][sev] += 1
        status[asset_id][st] += 1
        orphans[asset_id] += bool(orphan)
    topics = dict(conn.execute("SELECT asset_id, count(*) FROM topics GROUP BY 1").fetchall())
    out: dict = {"submissions": {}}
    subs = conn.execute("SELECT submission_id, workspace_id, status FROM submissions").fetchall()
    for sid, workspace, sub_status in subs:
        out["submissions"][sid] = {"workspace_id": workspace, "status": sub_status, "assets": {}}
    for aid, sid, a_status, issue_count, error in conn.execute(
        "SELECT asset_id, submission_id, status, issue_count, error_message FROM assets"
    ).fetchall():
        complete = a_status == "complete"
        out["submissions"][sid]["assets"][aid] = {
            "status": a_status,
            "issue_count": issue_count,
            "severity_counts": dict(severity[aid]) if complete else {},
            "status_counts": dict(status[aid]) if complete else {},
            "topic_count": topics.get(aid, 0) if complete else 0,
            "orphan_count": orphans[aid] if complete else 0,
            "error_message": error,
        }
    return out


def assert_matches_truth(conn: duckdb.DuckDBPyConnection, truth: dict) -> None:
    view = warehouse_view(conn)
    assert set(view["submissions"]) == set(truth["submissions"])
    for sid, expected in truth["submissions"].items():
        assert view["submissions"][sid] == expected, sid
    # Every currently failed asset has exactly one current failure row with its message.
    failed = {
        aid: a["error_message"]
        for s in truth["submissions"].values()
        for aid, a in s["assets"].items()
        if a["status"] == "failed"
    }
    current = dict(
        conn.execute(
            "SELECT asset_id, error_message FROM asset_failures WHERE is_current"
        ).fetchall()
    )
    assert current == failed
