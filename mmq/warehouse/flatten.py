"""Flatten raw Integrations API JSON into the rows of the analytical tables (no I/O here).

Each ``flatten_*`` function takes one response as the API sent it and appends rows to a
:class:`Rows` buffer, column by column, so that loading is one Arrow table per table. Known
fields are typed; fields we do not know yet, and values that fail to coerce (a malformed
timestamp, say), go to ``_extra`` under their original key, so nothing the API sent is lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime

import pyarrow as pa

from mmq.contract import OPEN_STATUSES
from mmq.warehouse.schema import TABLES


class Rows:
    """Column buffers for every table; ``add`` appends one row, ``arrow`` builds the table."""

    def __init__(self, tables: Iterable[str] = TABLES) -> None:
        self.columns: dict[str, dict[str, list]] = {
            name: {c: [] for c in TABLES[name].column_names} for name in tables
        }

    def add(self, table: str, **values: object) -> None:
        for column, buffer in self.columns[table].items():
            buffer.append(values.get(column))

    def count(self, table: str) -> int:
        first = next(iter(self.columns[table].values()))
        return len(first)

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in self.columns}

    def arrow(self, table: str) -> pa.Table:
        return pa.table(self.columns[table], schema=TABLES[table].arrow_schema())


class _Fields:
    """Reads typed fields out of one JSON object and remembers what was not consumed."""

    def __init__(self, obj: object) -> None:
        self.obj = obj if isinstance(obj, dict) else {}
        self.extra: dict = {}
        self.seen: set[str] = set()

    def _get(self, key: str) -> object:
        self.seen.add(key)
        return self.obj.get(key)

    def _coerce(self, key: str, convert) -> object:
        value = self._get(key)
        if value is None:
            return None
        try:
            return convert(value)
        except (TypeError, ValueError, OverflowError):
            self.extra[key] = value  # keep what we could not type, under its own name
            return None

    def text(self, key: str) -> str | None:
        return self._coerce(key, _as_str)

    def integer(self, key: str) -> int | None:
        return self._coerce(key, _as_int)

    def number(self, key: str) -> float | None:
        return self._coerce(key, _as_float)

    def flag(self, key: str) -> bool | None:
        return self._coerce(key, _as_bool)

    def time(self, key: str) -> datetime | None:
        return self._coerce(key, parse_timestamp)

    def day(self, key: str) -> date | None:
        return self._coerce(key, lambda v: date.fromisoformat(_as_str(v)))

    def str_list(self, key: str) -> list[str] | None:
        return self._coerce(key, lambda v: [_as_str(x) for x in _as_list(v)])

    def obj_list(self, key: str) -> list[dict]:
        value = self._get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.extra[key] = value
            return []
        return [item for item in value if isinstance(item, dict)]

    def child(self, key: str) -> _Fields:
        value = self._get(key)
        if value is not None and not isinstance(value, dict):
            self.extra[key] = value
        return _Fields(value)

    def raw(self, key: str) -> object:
        return self._get(key)

    def extra_json(self, *children: _Fields, prefix: Iterable[str] = ()) -> str | None:
        """Unconsumed keys of this object (and of the named children), as JSON or None."""
        extra = {k: v for k, v in self.obj.items() if k not in self.seen}
        extra.update(self.extra)
        for name, child in zip(prefix, children, strict=True):
            rest = child.extra_dict()
            if rest:
                extra[name] = rest
        return json.dumps(extra, sort_keys=True, default=str) if extra else None

    def extra_dict(self) -> dict:
        extra = {k: v for k, v in self.obj.items() if k not in self.seen}
        extra.update(self.extra)
        return extra


def _as_str(value: object) -> str:
    if isinstance(value, (dict, list)):
        raise TypeError("not a scalar")
    return value if isinstance(value, str) else str(value)


def _as_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError("not an integer")
    number = int(value)
    if not -(2**31) <= number < 2**31:
        raise OverflowError("out of INTEGER range")
    return number


def _as_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError("not a number")
    return float(value)


def _as_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("not a boolean")
    return value


def _as_list(value: object) -> list:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return value


def parse_timestamp(value: object) -> datetime:
    """ISO 8601 → aware UTC datetime (naive values are taken as UTC)."""
    moment = datetime.fromisoformat(_as_str(value))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


# --- webhook events ---------------------------------------------------------------------------
def parse_event(feed_event: dict) -> tuple[str, _Fields]:
    """(handling, the envelope's ``data`` fields) of one feed event.

    Only ``processed`` events lead to API fetches; the others are recorded and skipped.
    """
    try:
        envelope = json.loads(feed_event.get("body") or "")
    except ValueError:
        envelope = None
    data = _Fields(envelope.get("data") if isinstance(envelope, dict) else None)
    if not (feed_event.get("is_parseable") and isinstance(envelope, dict)):
        return "unparseable", data
    if feed_event.get("is_test"):
        return "skipped_test", data
    if not feed_event.get("is_known_type"):
        return "skipped_unknown_type", data
    if not data.text("submission_id") or not data.text("asset_id"):
        return "missing_ids", data
    return "processed", data


def event_submission_id(feed_event: dict) -> str | None:
    """The submission a feed event asks us to (re)process, or None."""
    handling, data = parse_event(feed_event)
    return data.text("submission_id") if handling == "processed" else None


def flatten_event(rows: Rows, feed_event: dict, load_id: str) -> None:
    """One event of the receiver feed → one ``webhook_events`` row."""
    handling, data = parse_event(feed_event)
    values = {
        "workspace_id": data.text("workspace_id"),
        "submission_id": data.text("submission_id"),
        "asset_id": data.text("asset_id"),
        "status": data.text("status"),
        "filename": data.text("filename"),
        "issue_count": data.integer("issue_count"),
        "error_message": data.text("error_message"),
    }
    data.raw("test")
    rows.add(
        "webhook_events",
        event_id=feed_event["event_id"],
        seq=feed_event["seq"],
        webhook_id=feed_event.get("webhook_id"),
        event_type=feed_event.get("event_type"),
        event_timestamp=_safe_time(feed_event.get("event_timestamp")),
        received_at=_safe_time(feed_event.get("received_at")) or datetime.now(UTC),
        is_test=bool(feed_event.get("is_test")),
        is_known_type=bool(feed_event.get("is_known_type")),
        is_parseable=handling != "unparseable",
        handling=handling,
        body=feed_event.get("body") or "",
        data_extra=data.extra_json() if data.obj else None,
        _load_id=load_id,
        **values,
    )


def _safe_time(value: object) -> datetime | None:
    try:
        return None if value is None else parse_timestamp(value)
    except (TypeError, ValueError):
        return None


# --- submission status ----------------------------------------------------------------------
def flatten_submission(
    rows: Rows,
    status: dict,
    *,
    fetched_at: datetime,
    load_id: str,
    events_by_asset: dict[str, list[dict]] | None = None,
    results_state: dict[str, str] | None = None,
    fetched_issue_counts: dict[str, int] | None = None,
) -> None:
    """``GET /submissions/{id}`` → one ``submissions`` row, ``assets`` rows, current failures.

    ``events_by_asset`` holds the submission's ``webhook_events`` rows (dicts) per asset: they
    give each asset's latest event and the failures no status reports any more.
    """
    events_by_asset = events_by_asset or {}
    results_state = results_state or {}
    fetched_issue_counts = fetched_issue_counts or {}
    f = _Fields(status)
    submission_id = f.text("submissionId")
    assets = f.obj_list("assets")
    rows.add(
        "submissions",
        submission_id=submission_id,
        workspace_id=f.text("workspaceId"),
        workflow_id=f.text("workflowId"),
        status=f.text("status"),
        progress_percent=f.integer("progressPercent"),
        created_at=f.time("createdAt"),
        completed_at=f.time("completedAt"),
        error_message=f.text("errorMessage"),
        is_retryable=f.flag("isRetryable"),
        asset_count=len(assets),
        _extra=f.extra_json(),
        _fetched_at=fetched_at,
        _load_id=load_id,
    )
    for item in assets:
        a = _Fields(item)
        asset_id = a.text("assetId")
        if asset_id is None:
            continue
        events = events_by_asset.get(asset_id, [])
        latest = max(events, key=_event_order, default=None)
        completed = [e for e in events if e.get("status") == "completed"]
        latest_completed = max(completed, key=_event_order, default=None)
        error_message = a.text("errorMessage")
        issue_count = a.integer("issueCount")
        retry_count = a.integer("retryCount")
        is_retryable = a.flag("isRetryable")
        error_type = a.text("errorType")
        asset_status = _asset_status(a.text("status"), issue_count, error_message, latest)
        rows.add(
            "assets",
            asset_id=asset_id,
            submission_id=submission_id,
            filename=a.text("filename") or (latest or {}).get("filename"),
            status=asset_status,
            version_group_id=a.text("versionGroupId"),
            version_number=a.integer("versionNumber"),
            issue_count=issue_count,
            fetched_issue_count=fetched_issue_counts.get(asset_id),
            event_issue_count=(latest_completed or {}).get("issue_count"),
            error_message=error_message,
            error_type=error_type,
            is_retryable=is_retryable,
            retry_count=retry_count,
            last_event_at=(latest or {}).get("event_timestamp"),
            results_state=results_state.get(asset_id, "none"),
            _extra=a.extra_json(),
            _fetched_at=fetched_at,
            _load_id=load_id,
        )
        _flatten_failures(
            rows,
            submission_id,
            asset_id,
            events,
            current=asset_status == "failed",
            error_message=error_message,
            error_type=error_type,
            is_retryable=is_retryable,
            retry_count=retry_count,
            fetched_at=fetched_at,
            load_id=load_id,
        )


def _event_order(event: dict) -> tuple:
    return (event.get("event_timestamp") or datetime.min.replace(tzinfo=UTC), event["seq"])


def _asset_status(
    reported: str | None, issue_count: int | None, error: str | None, latest_event: dict | None
) -> str:
    # Per-asset status is not in the documented example: fall back on what else we know.
    if reported:
        return {"completed": "complete"}.get(reported, reported)
    if issue_count is not None:
        return "complete"
    if error:
        return "failed"
    if latest_event is not None:
        return "failed" if latest_event.get("status") == "failed" else "complete"
    return "unknown"


def _flatten_failures(
    rows: Rows,
    submission_id: str | None,
    asset_id: str,
    events: list[dict],
    *,
    current: bool,
    error_message: str | None,
    error_type: str | None,
    is_retryable: bool | None,
    retry_count: int | None,
    fetched_at: datetime,
    load_id: str,
) -> None:
    failed_events = sorted((e for e in events if e.get("status") == "failed"), key=_event_order)
    latest_failed = failed_events[-1] if failed_events else None
    latest = max(events, key=_event_order, default=None)
    # The current failure is the latest event when that event is a failure.
    is_latest = latest_failed is not None and latest is latest_failed
    current_event_id = latest_failed["event_id"] if current and is_latest else None
    for event in failed_events:
        is_current = event["event_id"] == current_event_id
        rows.add(
            "asset_failures",
            failure_id=event["event_id"],
            asset_id=asset_id,
            submission_id=submission_id,
            event_id=event["event_id"],
            source="event",
            failed_at=event.get("event_timestamp"),
            error_message=event.get("error_message"),
            error_type=error_type if is_current else None,
            is_retryable=is_retryable if is_current else None,
            retry_count=retry_count,
            is_current=is_current,
            _load_id=load_id,
        )
    if current and current_event_id is None:
        # Failed per the API, but no failed event landed (dropped, or not delivered yet).
        rows.add(
            "asset_failures",
            failure_id=f"status:{asset_id}:{retry_count or 0}",
            asset_id=asset_id,
            submission_id=submission_id,
            event_id=None,
            source="status",
            failed_at=fetched_at,
            error_message=error_message,
            error_type=error_type,
            is_retryable=is_retryable,
            retry_count=retry_count,
            is_current=True,
            _load_id=load_id,
        )


# --- issues and topics ----------------------------------------------------------------------
def flatten_issues(
    rows: Rows,
    response: dict,
    *,
    submission_id: str,
    asset_id: str,
    membership: dict[str, str | None],
    load_id: str,
) -> int:
    """``GET …/issues`` → ``issues`` and ``issue_precedents`` rows; returns the issue count.

    ``membership`` maps issue id → topic id (None for orphans) from the topics response.
    """
    page = _Fields(response)
    count = 0
    for index, item in enumerate(page.obj_list("issues")):
        f = _Fields(item)
        issue_id = f.text("id") or f"{asset_id}#{f.integer('referenceNumber') or index + 1}"
        rule = f.child("ruleContext")
        rule_code = f.text("ruleCode")
        context_code = rule.text("code")
        status = f.text("status")
        precedents = f.obj_list("precedents")
        topic_id = membership.get(issue_id)
        rows.add(
            "issues",
            issue_id=issue_id,
            asset_id=asset_id,
            submission_id=submission_id,
            reference_number=f.integer("referenceNumber"),
            rule_code=rule_code or context_code,
            summary=f.text("summary"),
            severity=f.text("severity"),
            status=status,
            is_open=status in OPEN_STATUSES if status else None,
            sidekick_id=f.text("sidekickId"),
            created_at=f.time("createdAt"),
            updated_at=f.time("updatedAt"),
            severity_reasoning=f.text("severityReasoning"),
            severity_reasoning_headline=f.text("severityReasoningHeadline"),
            rule_title=rule.text("title"),
            rule_category=rule.text("category"),
            rule_regulator=rule.text("regulator"),
            rule_parent_codes=rule.str_list("parentCodes"),
            rule_related_codes=rule.str_list("relatedCodes"),
            evidence=_json(f.raw("evidence")),
            precedent_count=len(precedents),
            topic_id=topic_id,
            is_orphan=issue_id in membership and topic_id is None,
            _extra=f.extra_json(rule, prefix=("ruleContext",)),
            _load_id=load_id,
        )
        for position, precedent in enumerate(precedents):
            p = _Fields(precedent)
            rows.add(
                "issue_precedents",
                issue_id=issue_id,
                list_idx=position,
                asset_id=asset_id,
                submission_id=submission_id,
                url=p.text("url"),
                title=p.text("title"),
                decision=p.text("decision"),
                decided_on=p.day("date"),
                _extra=p.extra_json(),
                _load_id=load_id,
            )
        count += 1
    return count


def topic_membership(response: dict) -> dict[str, str | None]:
    """Issue id → topic id (None = orphan) from a topics response (first listing wins)."""
    page = _Fields(response)
    membership: dict[str, str | None] = {}
    for topic in page.obj_list("topics"):
        topic_id = _Fields(topic).text("id")
        for issue in _Fields(topic).obj_list("issues"):
            issue_id = _Fields(issue).text("id")
            if issue_id is not None:
                membership.setdefault(issue_id, topic_id)
    for issue in page.obj_list("orphanIssues"):
        issue_id = _Fields(issue).text("id")
        if issue_id is not None:
            membership.setdefault(issue_id, None)
    return membership


def flatten_topics(
    rows: Rows, response: dict, *, submission_id: str, asset_id: str, load_id: str
) -> int:
    """``GET …/topics`` → ``topics`` and ``topic_issues`` rows; returns the topic count."""
    page = _Fields(response)
    model = page.child("metadata").text("clusteringModel")
    count = 0
    for index, item in enumerate(page.obj_list("topics")):
        f = _Fields(item)
        topic_id = f.text("id") or f"{asset_id}#topic{index}"
        anchor = f.child("anchor")
        members = f.obj_list("issues")
        rows.add(
            "topics",
            topic_id=topic_id,
            asset_id=asset_id,
            submission_id=submission_id,
            list_idx=index,
            title=f.text("title"),
            summary=f.text("summary"),
            kind=f.text("kind"),
            anchor_kind=anchor.text("kind"),
            anchor_start=anchor.number("start"),
            anchor_end=anchor.number("end"),
            anchor_page=anchor.integer("page"),
            issue_count=len(members),
            clustering_model=model,
            _extra=f.extra_json(anchor, prefix=("anchor",)),
            _load_id=load_id,
        )
        seen: set[str] = set()
        for position, member in enumerate(members):
            issue_id = _Fields(member).text("id")
            if issue_id is None or issue_id in seen:
                continue
            seen.add(issue_id)
            rows.add(
                "topic_issues",
                topic_id=topic_id,
                issue_id=issue_id,
                list_idx=position,
                asset_id=asset_id,
                submission_id=submission_id,
                _load_id=load_id,
            )
        count += 1
    return count
