"""Flattening raw API JSON: typed columns, child tables, and nothing the API sent is lost."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mmq.warehouse import flatten
from mmq.warehouse.schema import TABLES

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def issue(n: int, **extra) -> dict:
    return {
        "id": f"i{n}",
        "referenceNumber": n,
        "ruleCode": "CAP_8.4",
        "summary": "Small print",
        "severity": "MAJOR",
        "status": "OPEN",
        "createdAt": "2026-12-01T10:00:00Z",
        "updatedAt": "2026-12-01T11:00:00Z",
        "precedents": [
            {
                "url": "https://asa.org.uk/r/1",
                "title": "A",
                "decision": "Upheld",
                "date": "2024-01-02",
            }
        ],
        **extra,
    }


def test_issues_keep_unknown_fields_and_untypable_values_in_extra():
    rows = flatten.Rows()
    response = {
        "issues": [
            issue(
                1,
                ruleContext={"code": "CAP_8.4", "title": "Promotions", "newThing": 1},
                confidence=0.93,
                updatedAt="not a time",
            )
        ],
        "pageToken": "abc",
    }
    count = flatten.flatten_issues(
        rows, response, submission_id="s", asset_id="a", membership={"i1": "t1"}, load_id="L"
    )
    assert count == 1
    table = rows.arrow("issues").to_pylist()[0]
    assert table["issue_id"] == "i1" and table["topic_id"] == "t1" and not table["is_orphan"]
    assert table["rule_title"] == "Promotions" and table["is_open"] is True
    assert table["updated_at"] is None
    assert json.loads(table["_extra"]) == {
        "confidence": 0.93,
        "updatedAt": "not a time",
        "ruleContext": {"newThing": 1},
    }
    (precedent,) = rows.arrow("issue_precedents").to_pylist()
    assert (precedent["issue_id"], precedent["list_idx"], precedent["decision"]) == (
        "i1",
        0,
        "Upheld",
    )
    assert str(precedent["decided_on"]) == "2024-01-02"


def test_issue_without_id_gets_a_stable_key():
    rows = flatten.Rows()
    body = {"issues": [{"referenceNumber": 7, "severity": "INFO"}]}
    flatten.flatten_issues(rows, body, submission_id="s", asset_id="a", membership={}, load_id="L")
    flatten.flatten_issues(rows, body, submission_id="s", asset_id="a", membership={}, load_id="L")
    keys = rows.columns["issues"]["issue_id"]
    assert keys == ["a#7", "a#7"]


def test_topics_membership_orphans_and_child_rows():
    response = {
        "topics": [
            {
                "id": "t1",
                "title": "T",
                "kind": "anchor",
                "anchor": {"kind": "timecode", "start": 3, "end": 8},
                "issues": [issue(1), issue(2), issue(2)],
            },
        ],
        "orphanIssues": [issue(3)],
        "metadata": {"clusteringModel": "m1"},
    }
    membership = flatten.topic_membership(response)
    assert membership == {"i1": "t1", "i2": "t1", "i3": None}
    rows = flatten.Rows()
    assert flatten.flatten_topics(rows, response, submission_id="s", asset_id="a", load_id="L") == 1
    (topic,) = rows.arrow("topics").to_pylist()
    assert (topic["anchor_start"], topic["anchor_end"], topic["clustering_model"]) == (
        3.0,
        8.0,
        "m1",
    )
    members = rows.arrow("topic_issues").to_pylist()
    assert [m["issue_id"] for m in members] == ["i1", "i2"]  # a repeated member is kept once


def test_submission_status_assets_and_failures():
    status = {
        "submissionId": "s",
        "workspaceId": "w",
        "status": "failed",
        "createdAt": "2026-12-04T10:00:00Z",
        "assets": [
            {"assetId": "a1", "issueCount": 2, "retryCount": 0},
            {
                "assetId": "a2",
                "status": "failed",
                "errorMessage": "Unsupported codec",
                "errorType": "INVALID_MEDIA",
                "isRetryable": False,
                "retryCount": 1,
            },
        ],
        "tier": "gold",
    }
    events = {
        "a2": [
            {
                "event_id": "e1",
                "seq": 1,
                "status": "failed",
                "error_message": "Timed out",
                "event_timestamp": datetime(2026, 12, 4, 10, 1, tzinfo=UTC),
            },
            {
                "event_id": "e2",
                "seq": 2,
                "status": "failed",
                "error_message": "Unsupported codec",
                "event_timestamp": datetime(2026, 12, 4, 10, 5, tzinfo=UTC),
            },
        ]
    }
    rows = flatten.Rows()
    flatten.flatten_submission(rows, status, fetched_at=NOW, load_id="L", events_by_asset=events)
    (sub,) = rows.arrow("submissions").to_pylist()
    assert sub["asset_count"] == 2 and json.loads(sub["_extra"]) == {"tier": "gold"}
    assets = {a["asset_id"]: a for a in rows.arrow("assets").to_pylist()}
    assert assets["a1"]["status"] == "complete"  # per-asset status is optional: inferred
    assert assets["a2"]["status"] == "failed"
    failures = rows.arrow("asset_failures").to_pylist()
    assert [(f["failure_id"], f["is_current"], f["error_type"]) for f in failures] == [
        ("e1", False, None),
        ("e2", True, "INVALID_MEDIA"),
    ]


def test_failure_known_only_from_status_gets_a_row():
    status = {
        "submissionId": "s",
        "assets": [{"assetId": "a", "status": "failed", "errorMessage": "boom", "retryCount": 2}],
    }
    rows = flatten.Rows()
    flatten.flatten_submission(rows, status, fetched_at=NOW, load_id="L")
    (failure,) = rows.arrow("asset_failures").to_pylist()
    assert (failure["failure_id"], failure["source"], failure["is_current"]) == (
        "status:a:2",
        "status",
        True,
    )


def test_events_are_classified_and_nothing_is_dropped():
    def feed(body: str, **flags) -> dict:
        base = {
            "event_id": "e",
            "seq": 1,
            "is_parseable": True,
            "is_known_type": True,
            "is_test": False,
        }
        return {**base, **flags, "body": body}

    good = json.dumps(
        {
            "id": "e",
            "type": "asset.processing.completed",
            "data": {"asset_id": "a", "submission_id": "s", "issue_count": 3, "new": 1},
        }
    )
    cases = [
        (feed(good), "processed"),
        (feed(good, is_test=True), "skipped_test"),
        (feed(good, is_known_type=False), "skipped_unknown_type"),
        (feed("{not json", is_parseable=False), "unparseable"),
        (feed(json.dumps({"data": {"asset_id": "a"}})), "missing_ids"),
    ]
    rows = flatten.Rows(["webhook_events"])
    for event, _ in cases:
        flatten.flatten_event(rows, event, "L")
    table = rows.arrow("webhook_events").to_pylist()
    assert [r["handling"] for r in table] == [expected for _, expected in cases]
    assert table[0]["issue_count"] == 3 and json.loads(table[0]["data_extra"]) == {"new": 1}
    assert table[3]["body"] == "{not json"
    assert flatten.event_submission_id(cases[0][0]) == "s"
    assert flatten.event_submission_id(cases[1][0]) is None


def test_every_table_has_a_load_id_and_arrow_schema_matches_ddl():
    for table in TABLES.values():
        if table.name != "loads":
            assert "_load_id" in table.column_names, table.name
        assert table.arrow_schema().names == table.column_names
        assert table.ddl().startswith(f"CREATE TABLE IF NOT EXISTS {table.name}")
