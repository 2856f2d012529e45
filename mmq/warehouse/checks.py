"""Data-quality checks over the flattened tables, as plain SQL (Dagster reports them).

Each check returns the number of offending rows and a few examples, scoped to a set of
submissions so that a run judges what it wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from mmq.contract import ISSUE_STATUSES, SEVERITIES
from mmq.warehouse.load import scope_table

ASSET_STATUSES = ("submitted", "processing", "complete", "failed")
SUBMISSION_STATUSES = ("uploading", "submitted", "processing", "complete", "failed")
TOPIC_KINDS = ("root_cause", "anchor")


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    failures: int
    examples: list[tuple]
    description: str

    @property
    def passed(self) -> bool:
        return self.failures == 0


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


CHECKS: dict[str, tuple[str, str]] = {
    # name: (description, SQL returning offending rows; {scope} = the submissions in scope)
    "issue_count_matches_event": (
        "Fetched issues per asset equal the `issue_count` of its completed event.",
        """
        SELECT asset_id, event_issue_count, fetched_issue_count FROM assets
        WHERE submission_id IN (SELECT submission_id FROM {scope})
          AND results_state = 'fetched' AND event_issue_count IS NOT NULL
          AND fetched_issue_count IS DISTINCT FROM event_issue_count
        """,
    ),
    "issues_in_exactly_one_topic_or_orphans": (
        "Every issue is in exactly one topic or in orphanIssues; topics hold ≥ 2 issues; "
        "topic members are known issues.",
        """
        WITH m AS (
            SELECT issue_id, count(*) AS topics FROM topic_issues
            WHERE submission_id IN (SELECT submission_id FROM {scope}) GROUP BY ALL
        )
        SELECT issue_id, 'memberships: ' || memberships FROM (
            SELECT i.issue_id, coalesce(m.topics, 0) + coalesce(i.is_orphan, false)::INT
                AS memberships
            FROM issues i LEFT JOIN m USING (issue_id)
            WHERE i.submission_id IN (SELECT submission_id FROM {scope})
        ) WHERE memberships <> 1
        UNION ALL
        SELECT topic_id, 'topic with ' || issue_count || ' issue(s)' FROM topics
        WHERE submission_id IN (SELECT submission_id FROM {scope}) AND issue_count < 2
        UNION ALL
        SELECT t.issue_id, 'unknown issue in topic ' || t.topic_id FROM topic_issues t
        WHERE t.submission_id IN (SELECT submission_id FROM {scope})
          AND t.issue_id NOT IN (SELECT issue_id FROM issues)
        """,
    ),
    "no_duplicate_keys": (
        "Natural keys are unique: reference numbers within an asset, precedents within an "
        "issue, one row per asset of a submission's status.",
        """
        SELECT asset_id, reference_number, count(*) FROM issues
        WHERE submission_id IN (SELECT submission_id FROM {scope})
          AND reference_number IS NOT NULL
        GROUP BY ALL HAVING count(*) > 1
        UNION ALL
        SELECT issue_id, url, count(*) FROM issue_precedents
        WHERE submission_id IN (SELECT submission_id FROM {scope}) AND url IS NOT NULL
        GROUP BY ALL HAVING count(*) > 1
        UNION ALL
        SELECT a.submission_id, 'assets: ' || count(*), any_value(s.asset_count) FROM assets a
        JOIN submissions s USING (submission_id)
        WHERE a.submission_id IN (SELECT submission_id FROM {scope})
        GROUP BY ALL HAVING count(*) <> any_value(s.asset_count)
        """,
    ),
    "enums_valid": (
        "Severities, issue statuses, asset/submission statuses and topic kinds are documented "
        "values (a new value means the API changed: look before trusting scores).",
        f"""
        SELECT 'issues.severity', severity, count(*) FROM issues
        WHERE submission_id IN (SELECT submission_id FROM {{scope}})
          AND severity NOT IN {_in(SEVERITIES)} GROUP BY ALL
        UNION ALL
        SELECT 'issues.status', status, count(*) FROM issues
        WHERE submission_id IN (SELECT submission_id FROM {{scope}})
          AND status NOT IN {_in(ISSUE_STATUSES)} GROUP BY ALL
        UNION ALL
        SELECT 'assets.status', status, count(*) FROM assets
        WHERE submission_id IN (SELECT submission_id FROM {{scope}})
          AND status NOT IN {_in(ASSET_STATUSES)} GROUP BY ALL
        UNION ALL
        SELECT 'submissions.status', status, count(*) FROM submissions
        WHERE submission_id IN (SELECT submission_id FROM {{scope}})
          AND status NOT IN {_in(SUBMISSION_STATUSES)} GROUP BY ALL
        UNION ALL
        SELECT 'topics.kind', kind, count(*) FROM topics
        WHERE submission_id IN (SELECT submission_id FROM {{scope}})
          AND kind NOT IN {_in(TOPIC_KINDS)} GROUP BY ALL
        """,
    ),
}


def run_checks(
    conn: duckdb.DuckDBPyConnection, submission_ids: Iterable[str]
) -> list[CheckOutcome]:
    scope = scope_table(conn, "submission_id", submission_ids)
    try:
        outcomes = []
        for name, (description, sql) in CHECKS.items():
            rows = conn.execute(sql.format(scope=scope)).fetchall()
            outcomes.append(CheckOutcome(name, len(rows), rows[:10], description))
        return outcomes
    finally:
        conn.unregister(scope)


PENDING_AGE_CHECK = "pending_not_older_than_threshold"
PENDING_AGE_DESCRIPTION = (
    "No fetch has been pending longer than `MMQ_PENDING_ALERT_SECONDS` (results that never "
    "appear, an API that keeps failing): look at `pending_fetches` before trusting the tables."
)


def pending_age_check(
    conn: duckdb.DuckDBPyConnection, *, now: datetime, threshold_seconds: float
) -> CheckOutcome:
    """The whole pending list (not a run's scope): old pending rows are what to alert on."""
    rows = conn.execute(
        """
        SELECT submission_id, asset_id, reason FROM pending_fetches
        WHERE state = 'pending' AND first_seen_at < ?
        ORDER BY first_seen_at
        """,
        [now - timedelta(seconds=threshold_seconds)],
    ).fetchall()
    return CheckOutcome(PENDING_AGE_CHECK, len(rows), rows[:10], PENDING_AGE_DESCRIPTION)
