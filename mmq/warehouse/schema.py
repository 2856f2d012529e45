"""The analytical tables, declared once: DDL, Arrow load schemas and the data-model docs check.

Conventions (dlt's): snake_case columns; a list inside a resource becomes a child table keyed by
the parent's id and the list index; every row carries ``_load_id`` (which load wrote it, see
``loads``); fields the API sends that we do not know yet are kept in ``_extra`` (JSON) rather
than dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # DuckDB type
    doc: str
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self) -> str:
        cols = [f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns]
        cols.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n    " + ",\n    ".join(cols) + "\n)"

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, _ARROW[c.type]) for c in self.columns])


_ARROW = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "DATE": pa.date32(),
    "VARCHAR[]": pa.list_(pa.string()),
}


def C(name: str, type_: str, doc: str, nullable: bool = True) -> Column:
    return Column(name, type_, doc, nullable)


LOAD_ID = C("_load_id", "VARCHAR", "Load that wrote the row (see `loads`).", nullable=False)
EXTRA = C("_extra", "JSON", "Fields the API sent that this schema does not know yet (object).")
FETCHED_AT = C("_fetched_at", "TIMESTAMPTZ", "When the API response behind the row was fetched.")

WEBHOOK_EVENTS = Table(
    "webhook_events",
    "Every landed webhook event, one row per event id (sender retries are deduplicated by the "
    "receiver). Test events, unknown types and unparseable bodies are kept and flagged.",
    (
        C("event_id", "VARCHAR", "Envelope `id` (= `webhook-id`).", nullable=False),
        C("seq", "BIGINT", "Landing sequence number in the receiver (feed cursor).", False),
        C("webhook_id", "VARCHAR", "The `webhook-id` header."),
        C("event_type", "VARCHAR", "`asset.processing.completed` or `.failed` (or unknown)."),
        C("event_timestamp", "TIMESTAMPTZ", "Envelope `timestamp` (when the asset finished)."),
        C(
            "received_at",
            "TIMESTAMPTZ",
            "When the receiver accepted the delivery (just before its group commit).",
            False,
        ),
        C("workspace_id", "VARCHAR", "`data.workspace_id`."),
        C("submission_id", "VARCHAR", "`data.submission_id`."),
        C("asset_id", "VARCHAR", "`data.asset_id`."),
        C("status", "VARCHAR", "`data.status`: `completed` or `failed`."),
        C("filename", "VARCHAR", "`data.filename`."),
        C("issue_count", "INTEGER", "`data.issue_count` (completed events)."),
        C("error_message", "VARCHAR", "`data.error_message` (failed events)."),
        C("is_test", "BOOLEAN", "`data.test` is true: a webhook test, never processed.", False),
        C("is_known_type", "BOOLEAN", "The type is one of the two documented types.", False),
        C("is_parseable", "BOOLEAN", "The body is a JSON object.", False),
        C(
            "handling",
            "VARCHAR",
            "`processed`, `skipped_test`, `skipped_unknown_type`, `unparseable` or "
            "`missing_ids` (no submission/asset id to fetch).",
            False,
        ),
        C(
            "body",
            "VARCHAR",
            "The raw body as text (invalid UTF-8 replaced; exact bytes in `raw_events`).",
            False,
        ),
        C("data_extra", "JSON", "Unknown keys of `data`."),
        LOAD_ID,
    ),
    ("event_id",),
)

API_RESPONSES = Table(
    "api_responses",
    "The raw JSON of the latest successful API response per endpoint and id, so that fields we "
    "do not flatten yet are never lost and tables can be rebuilt without re-fetching.",
    (
        C("kind", "VARCHAR", "`submission`, `issues` or `topics`.", False),
        C("submission_id", "VARCHAR", "Submission id.", False),
        C("asset_id", "VARCHAR", "Asset id; empty string for `submission` responses.", False),
        C("status_code", "INTEGER", "HTTP status of the response.", False),
        C("body", "JSON", "Response body as received.", False),
        C("fetched_at", "TIMESTAMPTZ", "When it was fetched.", False),
        LOAD_ID,
    ),
    ("kind", "submission_id", "asset_id"),
)

SUBMISSIONS = Table(
    "submissions",
    "One row per submission, from `GET /submissions/{id}` (latest fetch wins).",
    (
        C("submission_id", "VARCHAR", "Submission id.", False),
        C("workspace_id", "VARCHAR", "Workspace of the API key."),
        C("workflow_id", "VARCHAR", "`asset-processing-<uuid>`."),
        C("status", "VARCHAR", "`uploading`, `submitted`, `processing`, `complete`, `failed`."),
        C("progress_percent", "INTEGER", "0–100."),
        C("created_at", "TIMESTAMPTZ", "When the submission was created."),
        C("completed_at", "TIMESTAMPTZ", "When it reached a terminal status."),
        C("error_message", "VARCHAR", "Submission-level error, if any."),
        C("is_retryable", "BOOLEAN", "Some failed asset can be retried."),
        C("asset_count", "INTEGER", "Number of assets in the submission."),
        EXTRA,
        FETCHED_AT,
        LOAD_ID,
    ),
    ("submission_id",),
)

ASSETS = Table(
    "assets",
    "One row per asset, from the submission status (and its webhook events).",
    (
        C("asset_id", "VARCHAR", "Asset id.", False),
        C("submission_id", "VARCHAR", "Parent submission.", False),
        C("filename", "VARCHAR", "Uploaded file name."),
        C("status", "VARCHAR", "`submitted`, `processing`, `complete` or `failed`."),
        C("version_group_id", "VARCHAR", "Versions of one file share it."),
        C("version_number", "INTEGER", "1 for a first upload, +1 per new version."),
        C("issue_count", "INTEGER", "Issues reported by the status endpoint."),
        C("fetched_issue_count", "INTEGER", "Issues actually fetched and flattened."),
        C("event_issue_count", "INTEGER", "`issue_count` of the latest completed event."),
        C("error_message", "VARCHAR", "Why processing failed."),
        C("error_type", "VARCHAR", "Error class, e.g. `TIMEOUT`, `INVALID_MEDIA`."),
        C("is_retryable", "BOOLEAN", "A failed asset may be retried."),
        C("retry_count", "INTEGER", "Retries so far."),
        C("last_event_at", "TIMESTAMPTZ", "Timestamp of the latest webhook event."),
        C("results_state", "VARCHAR", "`fetched`, `pending`, `none` (no results: not complete)."),
        EXTRA,
        FETCHED_AT,
        LOAD_ID,
    ),
    ("asset_id",),
)

ISSUES = Table(
    "issues",
    "One row per issue, from `GET …/issues` (latest fetch wins: statuses change over time).",
    (
        C("issue_id", "VARCHAR", "Issue id (stable across fetches).", False),
        C("asset_id", "VARCHAR", "Parent asset.", False),
        C("submission_id", "VARCHAR", "Parent submission.", False),
        C("reference_number", "INTEGER", "1-based number within the asset."),
        C("rule_code", "VARCHAR", "Advertising rule, e.g. `CAP_8.4`."),
        C("summary", "VARCHAR", "What is wrong."),
        C("severity", "VARCHAR", "`CRITICAL`, `MAJOR`, `MINOR` or `INFO`."),
        C("status", "VARCHAR", "`OPEN`, `ACKNOWLEDGED`, `AWAITING_HUMAN_INPUT`, `RESOLVED`, …"),
        C("is_open", "BOOLEAN", "Status is OPEN, ACKNOWLEDGED or AWAITING_HUMAN_INPUT."),
        C("sidekick_id", "VARCHAR", "Reviewer (sidekick) that raised it."),
        C("created_at", "TIMESTAMPTZ", "When the issue was raised."),
        C("updated_at", "TIMESTAMPTZ", "Last change of the issue."),
        C("severity_reasoning", "VARCHAR", "Why this severity."),
        C("severity_reasoning_headline", "VARCHAR", "One-line reason."),
        C("rule_title", "VARCHAR", "`ruleContext.title`."),
        C("rule_category", "VARCHAR", "`ruleContext.category`."),
        C("rule_regulator", "VARCHAR", "`ruleContext.regulator`."),
        C("rule_parent_codes", "VARCHAR[]", "`ruleContext.parentCodes`."),
        C("rule_related_codes", "VARCHAR[]", "`ruleContext.relatedCodes`."),
        C("evidence", "JSON", "`evidence` list (timecodes, pages, regions, text)."),
        C("precedent_count", "INTEGER", "Rows in `issue_precedents`."),
        C("topic_id", "VARCHAR", "The topic holding the issue; NULL for orphans."),
        C("is_orphan", "BOOLEAN", "Listed in `orphanIssues` of the topics response."),
        EXTRA,
        LOAD_ID,
    ),
    ("issue_id",),
)

ISSUE_PRECEDENTS = Table(
    "issue_precedents",
    "Child table of `issues`: one row per precedent ruling cited by an issue.",
    (
        C("issue_id", "VARCHAR", "Parent issue.", False),
        C("list_idx", "INTEGER", "Position in the issue's `precedents` list.", False),
        C("asset_id", "VARCHAR", "Asset of the issue.", False),
        C("submission_id", "VARCHAR", "Submission of the issue.", False),
        C("url", "VARCHAR", "Link to the ruling."),
        C("title", "VARCHAR", "Ruling title."),
        C("decision", "VARCHAR", "e.g. `Upheld`, `Not upheld`."),
        C("decided_on", "DATE", "Ruling date."),
        EXTRA,
        LOAD_ID,
    ),
    ("issue_id", "list_idx"),
)

TOPICS = Table(
    "topics",
    "AI-clustered topics (root causes) of an asset, from `GET …/topics`.",
    (
        C("topic_id", "VARCHAR", "Topic id.", False),
        C("asset_id", "VARCHAR", "Parent asset.", False),
        C("submission_id", "VARCHAR", "Parent submission.", False),
        C("list_idx", "INTEGER", "Position in the response.", False),
        C("title", "VARCHAR", "Topic title."),
        C("summary", "VARCHAR", "Topic summary."),
        C("kind", "VARCHAR", "`root_cause` or `anchor`."),
        C("anchor_kind", "VARCHAR", "`anchor.kind` (e.g. `timecode`, `page`)."),
        C("anchor_start", "DOUBLE", "`anchor.start` (seconds)."),
        C("anchor_end", "DOUBLE", "`anchor.end` (seconds)."),
        C("anchor_page", "INTEGER", "`anchor.page`."),
        C("issue_count", "INTEGER", "Issues in the topic (≥ 2)."),
        C("clustering_model", "VARCHAR", "`metadata.clusteringModel` of the response."),
        EXTRA,
        LOAD_ID,
    ),
    ("topic_id",),
)

TOPIC_ISSUES = Table(
    "topic_issues",
    "Child table of `topics`: which issues a topic holds.",
    (
        C("topic_id", "VARCHAR", "Parent topic.", False),
        C("issue_id", "VARCHAR", "Member issue.", False),
        C("list_idx", "INTEGER", "Position in the topic's `issues` list.", False),
        C("asset_id", "VARCHAR", "Asset of the topic.", False),
        C("submission_id", "VARCHAR", "Submission of the topic.", False),
        LOAD_ID,
    ),
    ("topic_id", "issue_id"),
)

ASSET_FAILURES = Table(
    "asset_failures",
    "One row per failed processing attempt: every `asset.processing.failed` event, plus "
    "failures the status endpoint reports that no event brought.",
    (
        C("failure_id", "VARCHAR", "The event id, or `status:<asset_id>:<retry_count>`.", False),
        C("asset_id", "VARCHAR", "Failed asset.", False),
        C("submission_id", "VARCHAR", "Its submission.", False),
        C("event_id", "VARCHAR", "The failed event (NULL when known from the status only)."),
        C("source", "VARCHAR", "`event` or `status`.", False),
        C("failed_at", "TIMESTAMPTZ", "Event timestamp (or fetch time for `status`)."),
        C("error_message", "VARCHAR", "Error message."),
        C("error_type", "VARCHAR", "Error class from the status, when it is the current failure."),
        C("is_retryable", "BOOLEAN", "Retryable, per the status (current failure only)."),
        C("retry_count", "INTEGER", "Asset's retry count when fetched."),
        C("is_current", "BOOLEAN", "The asset is still failed (not recovered by a retry).", False),
        LOAD_ID,
    ),
    ("failure_id",),
)

PENDING_FETCHES = Table(
    "pending_fetches",
    "Fetches that could not be completed yet (results not ready, API errors). Later runs retry "
    "them with backoff until they succeed (`resolved`) or are given up with a reason.",
    (
        C("submission_id", "VARCHAR", "Submission.", False),
        C("asset_id", "VARCHAR", "Asset; empty string when the submission status failed.", False),
        C("state", "VARCHAR", "`pending`, `resolved` or `given_up`.", False),
        C("reason", "VARCHAR", "`not_ready`, `not_found`, `api_error` or `transport_error`."),
        C("last_error", "VARCHAR", "Last error message."),
        C("attempts", "INTEGER", "Failed attempts so far.", False),
        C("first_seen_at", "TIMESTAMPTZ", "First failed attempt.", False),
        C("last_attempt_at", "TIMESTAMPTZ", "Latest attempt.", False),
        C("next_attempt_at", "TIMESTAMPTZ", "Not retried before this time (backoff)."),
        C("resolved_at", "TIMESTAMPTZ", "When a later attempt succeeded or it was given up."),
        LOAD_ID,
    ),
    ("submission_id", "asset_id"),
)

RECEIVER_STATS = Table(
    "receiver_stats",
    "The receiver's counters, scraped from its `/metrics` by every ingest run: a time series of "
    "what reached the front door (duplicates and rejections never reach the feed).",
    (
        C("scraped_at", "TIMESTAMPTZ", "When the counters were read.", False),
        C("receiver_url", "VARCHAR", "Receiver base URL."),
        C("accepted", "BIGINT", "Authentic new events landed (since the receiver started)."),
        C("duplicates", "BIGINT", "Authentic re-deliveries answered 2xx, not landed again."),
        C("unparseable", "BIGINT", "Authentic events landed raw with an unparseable body."),
        C("rejected", "JSON", "Requests refused, by cause (`verification_failed`, …)."),
        C("latest_seq", "BIGINT", "Highest landed seq."),
        C("oldest_unfed_seconds", "DOUBLE", "Age of the oldest event not yet read by the feed."),
        LOAD_ID,
    ),
    ("scraped_at",),
)

LOADS = Table(
    "loads",
    "One row per load (a Dagster step writing the warehouse), as dlt's `_dlt_loads`.",
    (
        C("load_id", "VARCHAR", "`<UTC timestamp>-<run id prefix>`.", False),
        C("run_id", "VARCHAR", "Dagster run id."),
        C("step", "VARCHAR", "What loaded: `webhook_events`, `api_responses`, `tables`, …"),
        C("started_at", "TIMESTAMPTZ", "Start of the load.", False),
        C("finished_at", "TIMESTAMPTZ", "Commit time."),
        C("submissions", "INTEGER", "Submissions touched."),
        C("row_counts", "JSON", "Rows written per table."),
    ),
    ("load_id", "step"),
)

SUBMISSION_QUALITY = Table(
    "submission_quality",
    "Per-submission quality metrics, score and verdict (one row per submission).",
    (
        C("submission_id", "VARCHAR", "Submission.", False),
        C("workspace_id", "VARCHAR", "Workspace."),
        C("status", "VARCHAR", "Submission status."),
        C("created_at", "TIMESTAMPTZ", "Submission creation time."),
        C("completed_at", "TIMESTAMPTZ", "Terminal time per the API."),
        C("asset_count", "INTEGER", "Assets in the submission."),
        C("assets_completed", "INTEGER", "Assets `complete`."),
        C("assets_failed", "INTEGER", "Assets `failed`."),
        C("assets_pending", "INTEGER", "Assets whose results are not fetched yet."),
        C("issue_count", "INTEGER", "All issues."),
        C("critical_count", "INTEGER", "Issues with severity CRITICAL."),
        C("major_count", "INTEGER", "… MAJOR."),
        C("minor_count", "INTEGER", "… MINOR."),
        C("info_count", "INTEGER", "… INFO."),
        C("open_count", "INTEGER", "Open issues (OPEN, ACKNOWLEDGED, AWAITING_HUMAN_INPUT)."),
        C("open_critical", "INTEGER", "Open CRITICAL issues."),
        C("open_major", "INTEGER", "Open MAJOR issues."),
        C("open_minor", "INTEGER", "Open MINOR issues."),
        C("open_info", "INTEGER", "Open INFO issues."),
        C("status_open", "INTEGER", "Issues with status OPEN."),
        C("status_acknowledged", "INTEGER", "… ACKNOWLEDGED."),
        C("status_awaiting_human_input", "INTEGER", "… AWAITING_HUMAN_INPUT."),
        C("status_resolved", "INTEGER", "… RESOLVED."),
        C("status_dismissed", "INTEGER", "… DISMISSED."),
        C("issues_per_asset", "DOUBLE", "Issues per completed asset."),
        C("top_rule_codes", "JSON", "Up to 5 `{rule_code, rule_title, issues}`, most first."),
        C("topic_count", "INTEGER", "Topics over all assets."),
        C("orphan_count", "INTEGER", "Issues in no topic."),
        C("orphan_share", "DOUBLE", "orphan_count / issue_count (NULL without issues)."),
        C("failure_reasons", "JSON", "`{error_message: assets}` of currently failed assets."),
        C("first_event_at", "TIMESTAMPTZ", "Earliest webhook event of the submission."),
        C("last_event_at", "TIMESTAMPTZ", "Latest webhook event of the submission."),
        C(
            "processing_latency_seconds",
            "DOUBLE",
            "Latest event time − submission creation: how long MediaMagic took.",
        ),
        C("score", "INTEGER", "0–100, see the scoring section."),
        C("verdict", "VARCHAR", "`blocked`, `needs_review` or `clear`."),
        C("report_path", "VARCHAR", "HTML report, relative to the data directory."),
        C("computed_at", "TIMESTAMPTZ", "When this row was computed.", False),
        LOAD_ID,
    ),
    ("submission_id",),
)

DAILY_QUALITY = Table(
    "daily_quality",
    "One row per day (of submission creation, UTC) and workspace, built by the daily schedule.",
    (
        C("day", "DATE", "UTC day the submissions were created.", False),
        C("workspace_id", "VARCHAR", "Workspace.", False),
        C("submissions", "INTEGER", "Submissions created that day."),
        C("assets", "INTEGER", "Their assets."),
        C("assets_failed", "INTEGER", "Assets currently failed."),
        C("failure_rate", "DOUBLE", "assets_failed / assets."),
        C("issues", "INTEGER", "Issues over all assets."),
        C("open_issues", "INTEGER", "Open issues."),
        C("score_avg", "DOUBLE", "Mean score."),
        C("score_min", "INTEGER", "Lowest score."),
        C("score_p50", "DOUBLE", "Median score."),
        C("score_p90", "DOUBLE", "90th percentile score."),
        C("score_max", "INTEGER", "Highest score."),
        C("verdict_clear", "INTEGER", "Submissions with verdict clear."),
        C("verdict_needs_review", "INTEGER", "… needs_review."),
        C("verdict_blocked", "INTEGER", "… blocked."),
        C("top_rules", "JSON", "Up to 5 `{rule_code, issues}`, most frequent first."),
        C("computed_at", "TIMESTAMPTZ", "When this row was computed.", False),
        LOAD_ID,
    ),
    ("day", "workspace_id"),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        WEBHOOK_EVENTS,
        API_RESPONSES,
        SUBMISSIONS,
        ASSETS,
        ISSUES,
        ISSUE_PRECEDENTS,
        TOPICS,
        TOPIC_ISSUES,
        ASSET_FAILURES,
        PENDING_FETCHES,
        RECEIVER_STATS,
        LOADS,
        SUBMISSION_QUALITY,
        DAILY_QUALITY,
    )
}


# The tables flattened from the API's responses, in the order the UI lists them.
FLAT_TABLES = (
    "submissions",
    "assets",
    "issues",
    "issue_precedents",
    "topics",
    "topic_issues",
    "asset_failures",
)


def create_all(conn) -> None:
    """Create every table that does not exist yet (idempotent)."""
    for table in TABLES.values():
        conn.execute(table.ddl())
