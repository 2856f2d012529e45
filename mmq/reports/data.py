"""Loading what the reports show from ``analytics.duckdb``: a few set-based queries per batch.

Every loader takes a read-only connection and returns plain dataclasses; grouping and the small
derivations the pages need (severity × status matrix, timeline order) happen here so that the
templates only lay things out. One query per table for a whole batch of submissions keeps the
cost per report low (see ``bench/bench_reports.py``); each query runs on its own cursor and is
fetched completely, because an unfinished DuckDB result blocks its connection.

Strings in these objects come from the API and are hostile: they are only ever escaped by the
templates (Jinja2 autoescape) or by :mod:`mmq.reports.charts`; links go through :func:`safe_href`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import duckdb

SEVERITIES = ("CRITICAL", "MAJOR", "MINOR", "INFO")
STATUSES = ("OPEN", "ACKNOWLEDGED", "AWAITING_HUMAN_INPUT", "RESOLVED", "DISMISSED")
VERDICTS = ("blocked", "needs_review", "clear")
# Severities or statuses the API may add later are shown as sent, after the known ones.
OTHER = "OTHER"

# Queries filter on a list parameter; batches are chunked so one query never carries thousands.
IN_BATCH = "submission_id IN (SELECT unnest($ids::VARCHAR[]))"


# --------------------------------------------------------------------------- objects


@dataclass(slots=True)
class Precedent:
    url: str | None
    href: str | None  # the URL when it is a safe http(s) link, else None (shown as text)
    title: str | None
    decision: str | None
    decided_on: date | None


@dataclass(slots=True)
class Issue:
    issue_id: str
    asset_id: str
    filename: str | None
    reference_number: int | None
    rule_code: str | None
    rule_title: str | None
    summary: str | None
    severity: str | None
    status: str | None
    is_open: bool
    headline: str | None
    evidence: list[str]
    precedents: list[Precedent] = field(default_factory=list)


@dataclass(slots=True)
class Asset:
    asset_id: str
    filename: str | None
    status: str | None
    version_number: int | None
    retry_count: int | None
    results_state: str | None
    error_message: str | None
    error_type: str | None
    is_retryable: bool | None
    severity_counts: dict[str, int]
    issue_total: int
    open_total: int


@dataclass(slots=True)
class Topic:
    topic_id: str
    asset_id: str
    filename: str | None
    title: str | None
    summary: str | None
    kind: str | None
    anchor: str | None
    issues: list[Issue] = field(default_factory=list)


@dataclass(slots=True)
class Failure:
    failure_id: str
    asset_id: str
    filename: str | None
    failed_at: datetime | None
    error_message: str | None
    error_type: str | None
    is_retryable: bool | None
    retry_count: int | None
    is_current: bool
    source: str | None


@dataclass(slots=True)
class TimelineStep:
    at: datetime
    offset_seconds: float | None  # since the submission was created
    kind: str  # created | completed | failed_event | completed_event | other_event | pending
    label: str
    detail: str | None = None
    filename: str | None = None


@dataclass(slots=True)
class RuleCount:
    rule_code: str | None
    rule_title: str | None
    issues: int


@dataclass(slots=True)
class SubmissionReport:
    submission_id: str
    quality: dict[str, Any]  # the submission_quality row (+ a few submissions columns)
    assets: list[Asset]
    topics: list[Topic]
    orphans: list[Issue]
    issue_count: int
    matrix: dict[str, dict[str, int]]  # severity → status → issues
    severities: list[str]  # matrix rows in display order
    statuses: list[str]  # matrix columns in display order
    top_rules: list[RuleCount]
    failure_reasons: dict[str, int]
    failures: list[Failure]
    timeline: list[TimelineStep]
    precedent_count: int
    precedent_decisions: dict[str, int]


@dataclass(slots=True)
class IndexRow:
    submission_id: str
    workspace_id: str | None
    status: str | None
    created_at: datetime | None
    asset_count: int
    assets_failed: int
    issue_count: int
    open_critical: int
    score: int | None
    verdict: str | None
    filenames: list[str]


@dataclass(slots=True)
class DailyRow:
    day: date
    workspace_id: str
    submissions: int
    assets: int
    assets_failed: int
    failure_rate: float | None
    issues: int
    open_issues: int
    score_avg: float | None
    score_min: int | None
    score_p50: float | None
    score_p90: float | None
    score_max: int | None
    verdicts: dict[str, int]
    top_rules: list[RuleCount]


# --------------------------------------------------------------------------- helpers


def safe_href(url: object) -> str | None:
    """The URL if it is an absolute http(s) link with a host, else None (never a live link).

    ``urlsplit`` drops the leading whitespace and the tab/newline characters that browsers
    ignore, so ``" java\\tscript:…"`` is seen as the ``javascript`` scheme it really is.
    """
    if not isinstance(url, str) or not url.strip():
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return parts.geturl()


def rank(order: Sequence[str], value: str | None) -> tuple[int, str]:
    """Sort key: known values in their order, unknown ones after them, alphabetically."""
    try:
        return (order.index(value), "")
    except ValueError:
        return (len(order), value or "")


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: dict | list | None = None):
    cursor = conn.cursor()
    try:
        cursor.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()


def _json(text: str | None, default):
    return default if text is None else json.loads(text)


def _evidence(text: str | None) -> list[str]:
    """Human-readable evidence locations: ``0:16–0:18``, ``page 3``, a quoted excerpt."""
    out = []
    for item in _json(text, []):
        if not isinstance(item, dict):
            continue
        kind = item.get("kind")
        if kind == "timecode" and item.get("start") is not None:
            end = item.get("end")
            out.append(_timecode(item["start"]) + (f"–{_timecode(end)}" if end is not None else ""))
        elif kind == "page" and item.get("page") is not None:
            out.append(f"page {item['page']}")
        elif item.get("excerpt"):
            out.append(f"“{item['excerpt']}”")
        elif kind:
            out.append(str(kind))
    return out


def _timecode(seconds: object) -> str:
    try:
        total = int(float(seconds))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(seconds)
    return f"{total // 60}:{total % 60:02d}"


def _anchor(row: dict) -> str | None:
    if row["anchor_start"] is not None:
        end = row["anchor_end"]
        return f"at {_timecode(row['anchor_start'])}" + (
            f"–{_timecode(end)}" if end is not None else ""
        )
    if row["anchor_page"] is not None:
        return f"page {row['anchor_page']}"
    return row["anchor_kind"]


def _rule_counts(text: str | None) -> list[RuleCount]:
    return [
        RuleCount(r.get("rule_code"), r.get("rule_title"), int(r.get("issues") or 0))
        for r in _json(text, [])
    ]


def _chunks(ids: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --------------------------------------------------------------------------- submissions

QUALITY_SQL = f"""
SELECT q.*, s.workflow_id, s.progress_percent, s.error_message AS submission_error,
       s._fetched_at AS status_fetched_at
FROM submission_quality q LEFT JOIN submissions s USING (submission_id)
WHERE q.{IN_BATCH}
"""

ASSETS_SQL = f"""
SELECT a.submission_id, a.asset_id, a.filename, a.status, a.version_number, a.retry_count,
       a.results_state, a.error_message, a.error_type, a.is_retryable,
       count(i.issue_id) AS issue_total,
       count(i.issue_id) FILTER (i.is_open) AS open_total,
       coalesce(list(i.severity) FILTER (i.issue_id IS NOT NULL), []) AS severities
FROM assets a LEFT JOIN issues i USING (asset_id)
WHERE a.{IN_BATCH}
GROUP BY ALL
ORDER BY a.submission_id, a.filename, a.version_number, a.asset_id
"""

# Topic membership comes from topic_issues (the topics response); an issue in no topic is an
# orphan, whatever its flag says, so that every issue is shown exactly where the API put it.
ISSUES_SQL = f"""
SELECT i.submission_id, i.issue_id, i.asset_id, i.reference_number, i.rule_code, i.rule_title,
       i.summary, i.severity, i.status, coalesce(i.is_open, false) AS is_open,
       i.severity_reasoning_headline AS headline, i.evidence,
       ti.topic_id, ti.list_idx AS topic_idx
FROM issues i LEFT JOIN topic_issues ti USING (issue_id)
WHERE i.{IN_BATCH}
ORDER BY i.submission_id, ti.topic_id, ti.list_idx, i.asset_id, i.reference_number, i.issue_id
"""

PRECEDENTS_SQL = f"""
SELECT issue_id, url, title, decision, decided_on
FROM issue_precedents WHERE {IN_BATCH}
ORDER BY issue_id, list_idx
"""

TOPICS_SQL = f"""
SELECT submission_id, topic_id, asset_id, title, summary, kind,
       anchor_kind, anchor_start, anchor_end, anchor_page
FROM topics WHERE {IN_BATCH}
ORDER BY submission_id, asset_id, list_idx, topic_id
"""

FAILURES_SQL = f"""
SELECT submission_id, failure_id, asset_id, failed_at, error_message, error_type,
       is_retryable, retry_count, is_current, source
FROM asset_failures WHERE {IN_BATCH}
ORDER BY submission_id, failed_at, failure_id
"""

EVENTS_SQL = f"""
SELECT submission_id, seq, event_type, event_timestamp, received_at, asset_id, status, filename,
       issue_count, error_message
FROM webhook_events WHERE {IN_BATCH} AND NOT is_test
ORDER BY submission_id, seq
"""


def load_submission_reports(
    conn: duckdb.DuckDBPyConnection, submission_ids: Iterable[str], *, chunk_size: int = 500
) -> dict[str, SubmissionReport]:
    """Everything the reports of these submissions show; ids without quality are left out."""
    ids = list(dict.fromkeys(submission_ids))
    reports: dict[str, SubmissionReport] = {}
    for chunk in _chunks(ids, chunk_size):
        reports.update(_load_chunk(conn, chunk))
    return reports


def _load_chunk(conn: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, SubmissionReport]:
    params = {"ids": ids}
    quality = {r["submission_id"]: r for r in _rows(conn, QUALITY_SQL, params)}
    if not quality:
        return {}
    by_sub: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for name, sql in (
        ("assets", ASSETS_SQL),
        ("issues", ISSUES_SQL),
        ("topics", TOPICS_SQL),
        ("failures", FAILURES_SQL),
        ("events", EVENTS_SQL),
    ):
        for row in _rows(conn, sql, params):
            by_sub[row["submission_id"]][name].append(row)
    precedents: dict[str, list[Precedent]] = defaultdict(list)
    for row in _rows(conn, PRECEDENTS_SQL, params):
        precedents[row["issue_id"]].append(
            Precedent(
                row["url"], safe_href(row["url"]), row["title"], row["decision"], row["decided_on"]
            )
        )
    return {sid: _build_report(sid, q, by_sub[sid], precedents) for sid, q in quality.items()}


def _build_report(
    submission_id: str,
    quality: dict,
    rows: dict[str, list],
    precedents: dict[str, list[Precedent]],
) -> SubmissionReport:
    assets = []
    filenames: dict[str, str | None] = {}
    for r in rows["assets"]:
        counts = dict.fromkeys(SEVERITIES, 0)
        for severity in r["severities"]:
            key = severity or OTHER
            counts[key] = counts.get(key, 0) + 1
        filenames[r["asset_id"]] = r["filename"]
        assets.append(
            Asset(
                r["asset_id"],
                r["filename"],
                r["status"],
                r["version_number"],
                r["retry_count"],
                r["results_state"],
                r["error_message"],
                r["error_type"],
                r["is_retryable"],
                counts,
                r["issue_total"],
                r["open_total"],
            )
        )

    topics: dict[str, Topic] = {}
    for r in rows["topics"]:
        topics[r["topic_id"]] = Topic(
            r["topic_id"], r["asset_id"], filenames.get(r["asset_id"]), r["title"], r["summary"],
            r["kind"], _anchor(r),
        )  # fmt: skip

    orphans: list[Issue] = []
    matrix: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen: set[str] = set()
    precedent_count = 0
    decisions: dict[str, int] = defaultdict(int)
    for r in rows["issues"]:
        issue = Issue(
            r["issue_id"], r["asset_id"], filenames.get(r["asset_id"]), r["reference_number"],
            r["rule_code"], r["rule_title"], r["summary"], r["severity"], r["status"],
            r["is_open"], r["headline"], _evidence(r["evidence"]),
            precedents.get(r["issue_id"], []),
        )  # fmt: skip
        topic = topics.get(r["topic_id"]) if r["topic_id"] is not None else None
        if topic is not None:
            topic.issues.append(issue)
        else:
            orphans.append(issue)
        if r["issue_id"] in seen:  # listed in two topics: shown twice, counted once
            continue
        seen.add(r["issue_id"])
        matrix[issue.severity or OTHER][issue.status or OTHER] += 1
        precedent_count += len(issue.precedents)
        for p in issue.precedents:
            decisions[p.decision or "(no decision)"] += 1
    orphans.sort(
        key=lambda i: (rank(SEVERITIES, i.severity), i.filename or "", i.reference_number or 0)
    )

    severities = list(SEVERITIES) + sorted(set(matrix) - set(SEVERITIES))
    statuses = list(STATUSES) + sorted(
        {st for counts in matrix.values() for st in counts} - set(STATUSES)
    )

    failures = [
        Failure(
            r["failure_id"],
            r["asset_id"],
            filenames.get(r["asset_id"]),
            r["failed_at"],
            r["error_message"],
            r["error_type"],
            r["is_retryable"],
            r["retry_count"],
            bool(r["is_current"]),
            r["source"],
        )
        for r in rows["failures"]
    ]
    failures.sort(key=lambda f: (not f.is_current, f.filename or "", f.failed_at or _EPOCH))

    return SubmissionReport(
        submission_id=submission_id,
        quality=quality,
        assets=assets,
        topics=[t for t in topics.values()],
        orphans=orphans,
        issue_count=len(seen),
        matrix={s: dict(matrix.get(s, {})) for s in severities},
        severities=severities,
        statuses=statuses,
        top_rules=_rule_counts(quality["top_rule_codes"]),
        failure_reasons={str(k): int(v) for k, v in _json(quality["failure_reasons"], {}).items()},
        failures=failures,
        timeline=_timeline(quality, rows["events"], filenames),
        precedent_count=precedent_count,
        precedent_decisions=dict(sorted(decisions.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _timeline(quality: dict, events: list[dict], filenames: dict) -> list[TimelineStep]:
    """Created → every webhook event (as our receiver accepted it) → completed, in time order."""
    created = quality["created_at"]
    steps: list[tuple[int, TimelineStep]] = []
    if created is not None:
        steps.append((0, TimelineStep(created, 0.0, "created", "Submission created")))
    for e in events:
        at = e["received_at"] or e["event_timestamp"]
        filename = e["filename"] or filenames.get(e["asset_id"])
        if e["status"] == "failed" or (e["event_type"] or "").endswith(".failed"):
            kind, label, detail = "failed_event", "Asset failed", e["error_message"]
        elif e["status"] == "completed" or (e["event_type"] or "").endswith(".completed"):
            n = e["issue_count"]
            kind, label = "completed_event", "Asset completed"
            detail = None if n is None else f"{n} issue{'' if n == 1 else 's'}"
        else:
            kind, label, detail = "other_event", e["event_type"] or "Event", e["status"]
        steps.append((1, TimelineStep(at, None, kind, label, detail, filename)))
    completed = quality["completed_at"]
    if completed is not None:
        label = "Submission failed" if quality["status"] == "failed" else "Submission completed"
        steps.append((2, TimelineStep(completed, None, "completed", label, quality["status"])))
    elif quality["status"] not in ("complete", "failed"):
        at = quality["status_fetched_at"] or quality["computed_at"]
        steps.append((2, TimelineStep(at, None, "pending", "Still processing", quality["status"])))
    steps.sort(key=lambda pair: (pair[1].at, pair[0]))
    for _, step in steps:
        if created is not None:
            step.offset_seconds = (step.at - created).total_seconds()
    return [step for _, step in steps]


# --------------------------------------------------------------------------- index, digest

INDEX_SQL = """
WITH files AS (
    SELECT submission_id, list(coalesce(filename, asset_id) ORDER BY filename, asset_id) AS names
    FROM assets GROUP BY submission_id
)
SELECT q.submission_id, q.workspace_id, q.status, q.created_at, q.asset_count, q.assets_failed,
       q.issue_count, q.open_critical, q.score, q.verdict, coalesce(f.names, []) AS filenames
FROM submission_quality q LEFT JOIN files f USING (submission_id)
ORDER BY q.created_at DESC NULLS LAST, q.submission_id
"""

DAILY_SQL = """
SELECT * FROM daily_quality ORDER BY day DESC, workspace_id
"""

RULE_TITLES_SQL = """
SELECT rule_code, any_value(rule_title ORDER BY rule_title) AS rule_title
FROM issues WHERE rule_code IN (SELECT unnest($codes::VARCHAR[])) AND rule_title IS NOT NULL
GROUP BY rule_code
"""


def load_index(conn: duckdb.DuckDBPyConnection) -> list[IndexRow]:
    return [
        IndexRow(
            r["submission_id"],
            r["workspace_id"],
            r["status"],
            r["created_at"],
            r["asset_count"] or 0,
            r["assets_failed"] or 0,
            r["issue_count"] or 0,
            r["open_critical"] or 0,
            r["score"],
            r["verdict"],
            r["filenames"],
        )
        for r in _rows(conn, INDEX_SQL)
    ]


def load_daily(conn: duckdb.DuckDBPyConnection) -> list[DailyRow]:
    rows = _rows(conn, DAILY_SQL)
    days = []
    for r in rows:
        days.append(
            DailyRow(
                r["day"],
                r["workspace_id"],
                r["submissions"] or 0,
                r["assets"] or 0,
                r["assets_failed"] or 0,
                r["failure_rate"],
                r["issues"] or 0,
                r["open_issues"] or 0,
                r["score_avg"],
                r["score_min"],
                r["score_p50"],
                r["score_p90"],
                r["score_max"],
                {
                    "blocked": r["verdict_blocked"] or 0,
                    "needs_review": r["verdict_needs_review"] or 0,
                    "clear": r["verdict_clear"] or 0,
                },
                _rule_counts(r["top_rules"]),
            )
        )
    # daily_quality keeps codes only; titles come from the issues that carry them.
    codes = sorted({rule.rule_code for d in days for rule in d.top_rules if rule.rule_code})
    if codes:
        titles = {
            r["rule_code"]: r["rule_title"] for r in _rows(conn, RULE_TITLES_SQL, {"codes": codes})
        }
        for d in days:
            for rule in d.top_rules:
                rule.rule_title = titles.get(rule.rule_code)
    return days


def latest_computed_at(conn: duckdb.DuckDBPyConnection) -> datetime | None:
    rows = _rows(conn, "SELECT max(computed_at) AS at FROM submission_quality")
    return rows[0]["at"]
