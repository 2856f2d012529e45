"""Per-submission quality (score, verdict, metrics) and the daily digest, computed in SQL.

Score = max(0, 100 − Σ weight(severity) · open issues of that severity); verdict ``blocked`` if
any open CRITICAL, else ``needs_review`` if any open MAJOR or failed asset, else ``clear``.
Weights are settings (``MMQ_SCORE_WEIGHT_*``) so that a workspace can tune them; the defaults
are documented in ``docs/data-model.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import duckdb

from mmq.warehouse.load import scalar, scope_table


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    critical: int = 25
    major: int = 10
    minor: int = 3
    info: int = 0


SUBMISSION_QUALITY_SQL = """
WITH scope AS (SELECT DISTINCT submission_id FROM {scope}),
a AS (
    SELECT submission_id,
           count(*) AS asset_count,
           count(*) FILTER (status = 'complete') AS assets_completed,
           count(*) FILTER (status = 'failed') AS assets_failed,
           count(*) FILTER (status NOT IN ('complete', 'failed')
                            OR (status = 'complete' AND results_state <> 'fetched'))
               AS assets_pending
    FROM assets WHERE submission_id IN (SELECT submission_id FROM scope) GROUP BY ALL
),
i AS (
    SELECT submission_id,
           count(*) AS issue_count,
           count(*) FILTER (severity = 'CRITICAL') AS critical_count,
           count(*) FILTER (severity = 'MAJOR') AS major_count,
           count(*) FILTER (severity = 'MINOR') AS minor_count,
           count(*) FILTER (severity = 'INFO') AS info_count,
           count(*) FILTER (is_open) AS open_count,
           count(*) FILTER (is_open AND severity = 'CRITICAL') AS open_critical,
           count(*) FILTER (is_open AND severity = 'MAJOR') AS open_major,
           count(*) FILTER (is_open AND severity = 'MINOR') AS open_minor,
           count(*) FILTER (is_open AND severity = 'INFO') AS open_info,
           count(*) FILTER (status = 'OPEN') AS status_open,
           count(*) FILTER (status = 'ACKNOWLEDGED') AS status_acknowledged,
           count(*) FILTER (status = 'AWAITING_HUMAN_INPUT') AS status_awaiting_human_input,
           count(*) FILTER (status = 'RESOLVED') AS status_resolved,
           count(*) FILTER (status = 'DISMISSED') AS status_dismissed,
           count(*) FILTER (is_orphan) AS orphan_count
    FROM issues WHERE submission_id IN (SELECT submission_id FROM scope) GROUP BY ALL
),
rules AS (
    SELECT submission_id, rule_code, any_value(rule_title) AS rule_title, count(*) AS n
    FROM issues WHERE submission_id IN (SELECT submission_id FROM scope) GROUP BY ALL
),
r AS (
    SELECT submission_id,
           to_json(list({{'rule_code': rule_code, 'rule_title': rule_title, 'issues': n}}
                        ORDER BY n DESC, rule_code)[1:5]) AS top_rule_codes
    FROM rules GROUP BY ALL
),
t AS (
    SELECT submission_id, count(*) AS topic_count
    FROM topics WHERE submission_id IN (SELECT submission_id FROM scope) GROUP BY ALL
),
f AS (
    SELECT submission_id,
           to_json(map_from_entries(list({{'k': reason, 'v': n}} ORDER BY n DESC, reason)))
               AS failure_reasons
    FROM (
        SELECT submission_id, coalesce(error_message, '(no message)') AS reason, count(*) AS n
        FROM assets
        WHERE status = 'failed' AND submission_id IN (SELECT submission_id FROM scope)
        GROUP BY ALL
    ) GROUP BY ALL
),
e AS (
    SELECT submission_id, min(event_timestamp) AS first_event_at,
           max(event_timestamp) AS last_event_at
    FROM webhook_events
    WHERE handling = 'processed' AND submission_id IN (SELECT submission_id FROM scope)
    GROUP BY ALL
),
m AS (
    SELECT s.submission_id, s.workspace_id, s.status, s.created_at, s.completed_at,
           coalesce(a.asset_count, 0) AS asset_count,
           coalesce(a.assets_completed, 0) AS assets_completed,
           coalesce(a.assets_failed, 0) AS assets_failed,
           coalesce(a.assets_pending, 0) AS assets_pending,
           coalesce(i.issue_count, 0) AS issue_count,
           coalesce(i.critical_count, 0) AS critical_count,
           coalesce(i.major_count, 0) AS major_count,
           coalesce(i.minor_count, 0) AS minor_count,
           coalesce(i.info_count, 0) AS info_count,
           coalesce(i.open_count, 0) AS open_count,
           coalesce(i.open_critical, 0) AS open_critical,
           coalesce(i.open_major, 0) AS open_major,
           coalesce(i.open_minor, 0) AS open_minor,
           coalesce(i.open_info, 0) AS open_info,
           coalesce(i.status_open, 0) AS status_open,
           coalesce(i.status_acknowledged, 0) AS status_acknowledged,
           coalesce(i.status_awaiting_human_input, 0) AS status_awaiting_human_input,
           coalesce(i.status_resolved, 0) AS status_resolved,
           coalesce(i.status_dismissed, 0) AS status_dismissed,
           CASE WHEN coalesce(a.assets_completed, 0) > 0
                THEN coalesce(i.issue_count, 0) / a.assets_completed END AS issues_per_asset,
           coalesce(r.top_rule_codes, '[]'::JSON) AS top_rule_codes,
           coalesce(t.topic_count, 0) AS topic_count,
           coalesce(i.orphan_count, 0) AS orphan_count,
           CASE WHEN coalesce(i.issue_count, 0) > 0 THEN i.orphan_count / i.issue_count END
               AS orphan_share,
           coalesce(f.failure_reasons, '{{}}'::JSON) AS failure_reasons,
           e.first_event_at, e.last_event_at,
           epoch(e.last_event_at) - epoch(s.created_at) AS processing_latency_seconds
    FROM submissions s
    JOIN scope USING (submission_id)
    LEFT JOIN a USING (submission_id)
    LEFT JOIN i USING (submission_id)
    LEFT JOIN r USING (submission_id)
    LEFT JOIN t USING (submission_id)
    LEFT JOIN f USING (submission_id)
    LEFT JOIN e USING (submission_id)
)
SELECT m.*,
       greatest(0, 100 - ? * open_critical - ? * open_major - ? * open_minor - ? * open_info)
           ::INTEGER AS score,
       CASE WHEN open_critical > 0 THEN 'blocked'
            WHEN open_major > 0 OR assets_failed > 0 THEN 'needs_review'
            ELSE 'clear' END AS verdict,
       'reports/' || submission_id || '.html' AS report_path,
       ?::TIMESTAMPTZ AS computed_at,
       ? AS _load_id
FROM m
"""

DAILY_QUALITY_SQL = """
WITH q AS (
    SELECT (created_at AT TIME ZONE 'UTC')::DATE AS day, coalesce(workspace_id, '') AS workspace_id,
           *  EXCLUDE (workspace_id)
    FROM submission_quality WHERE created_at IS NOT NULL
),
rules AS (
    SELECT (s.created_at AT TIME ZONE 'UTC')::DATE AS day,
           coalesce(s.workspace_id, '') AS workspace_id, i.rule_code, count(*) AS n
    FROM issues i JOIN submissions s USING (submission_id)
    WHERE s.created_at IS NOT NULL GROUP BY ALL
),
top AS (
    SELECT day, workspace_id,
           to_json(list({'rule_code': rule_code, 'issues': n} ORDER BY n DESC, rule_code)[1:5])
               AS top_rules
    FROM rules GROUP BY ALL
)
SELECT q.day, q.workspace_id,
       count(*)::INTEGER AS submissions,
       sum(asset_count)::INTEGER AS assets,
       sum(assets_failed)::INTEGER AS assets_failed,
       CASE WHEN sum(asset_count) > 0 THEN sum(assets_failed) / sum(asset_count) END
           AS failure_rate,
       sum(issue_count)::INTEGER AS issues,
       sum(open_count)::INTEGER AS open_issues,
       avg(score) AS score_avg,
       min(score)::INTEGER AS score_min,
       quantile_cont(score, 0.5) AS score_p50,
       quantile_cont(score, 0.9) AS score_p90,
       max(score)::INTEGER AS score_max,
       count(*) FILTER (verdict = 'clear')::INTEGER AS verdict_clear,
       count(*) FILTER (verdict = 'needs_review')::INTEGER AS verdict_needs_review,
       count(*) FILTER (verdict = 'blocked')::INTEGER AS verdict_blocked,
       coalesce(any_value(top.top_rules), '[]'::JSON) AS top_rules,
       ?::TIMESTAMPTZ AS computed_at,
       ? AS _load_id
FROM q LEFT JOIN top USING (day, workspace_id)
GROUP BY q.day, q.workspace_id
"""


def verdict_counts(conn: duckdb.DuckDBPyConnection, submission_ids: list[str]) -> dict[str, int]:
    """How many of these submissions have each verdict (in the warehouse or a published copy)."""
    return dict(
        conn.execute(
            "SELECT verdict, count(*) FROM submission_quality "
            "WHERE submission_id IN (SELECT unnest(?)) GROUP BY ALL",
            [submission_ids],
        ).fetchall()
    )


def compute_submission_quality(
    conn: duckdb.DuckDBPyConnection,
    submission_ids: Iterable[str],
    *,
    weights: ScoreWeights,
    now: datetime,
    load_id: str,
) -> int:
    """Replace the ``submission_quality`` rows of these submissions; returns rows written."""
    ids = list(submission_ids)
    scope = scope_table(conn, "submission_id", ids)
    in_scope = f"submission_id IN (SELECT submission_id FROM {scope})"
    try:
        conn.execute(f"DELETE FROM submission_quality WHERE {in_scope}")
        params = [weights.critical, weights.major, weights.minor, weights.info, now, load_id]
        conn.execute(
            "INSERT INTO submission_quality BY NAME " + SUBMISSION_QUALITY_SQL.format(scope=scope),
            params,
        )
        return scalar(conn, f"SELECT count(*) FROM submission_quality WHERE {in_scope}")
    finally:
        conn.unregister(scope)


def compute_daily_quality(conn: duckdb.DuckDBPyConnection, *, now: datetime, load_id: str) -> int:
    """Rebuild ``daily_quality`` from ``submission_quality`` (cheap; always whole)."""
    conn.execute("DELETE FROM daily_quality")
    conn.execute("INSERT INTO daily_quality BY NAME " + DAILY_QUALITY_SQL, [now, load_id])
    return scalar(conn, "SELECT count(*) FROM daily_quality")
