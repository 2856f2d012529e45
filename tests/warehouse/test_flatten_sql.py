"""The SQL fast path of ``rebuild_tables`` writes exactly the rows of the reference flatten.

Bodies come from the simulator's own generator (shaped as its routes serve them), plus assets
with odd bodies: unknown fields, missing optional fields, untypable values, null list elements,
ids missing. Every table is compared row by row, every column, with what ``flatten.py`` makes
of the same bodies; plain assets must take the SQL path and odd ones the Python one.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from mmq.warehouse import flatten, flatten_sql, steps
from mmq.warehouse.connection import connected, transaction
from mmq.warehouse.fetch import Response
from mmq.warehouse.load import replace_rows
from mmq.warehouse.schema import TABLES
from simulator.results import generate_asset_results

CREATED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
FETCHED = CREATED + timedelta(hours=1)
ASSET_TABLES = ("issues", "issue_precedents", "topics", "topic_issues")


def served(asset_id: str, submission_id: str) -> tuple[dict, dict]:
    """(issues body, topics body) as the simulator's routes serve them."""
    results = generate_asset_results(asset_id, submission_id, f"{asset_id}.mp4", CREATED)
    issues = {"assetId": asset_id, "submissionId": submission_id}
    issues["issues"] = copy.deepcopy(results.enriched_issues())
    topics = {
        "assetId": asset_id,
        "topics": [
            dict(t, anchor=None if t["anchor"] is None else dict(t["anchor"]))
            for t in copy.deepcopy(results.topics)
        ],
        "orphanIssues": copy.deepcopy(results.orphan_issues),
        "metadata": dict(results.metadata),
    }
    return issues, topics


def _first_issue(body: dict) -> dict:
    return body["issues"][0]


# name → how to make an asset's bodies odd (None: leave them plain)
ODDITIES = {
    "unknown_issue_field": lambda i, t: _first_issue(i).update(confidence=0.93),
    "unknown_rule_field": lambda i, t: _first_issue(i)["ruleContext"].update(newThing=[1]),
    "bad_timestamp": lambda i, t: _first_issue(i).update(updatedAt="not a time"),
    "impossible_date": lambda i, t: _first_issue(i).update(createdAt="2026-02-30T10:00:00Z"),
    "number_as_text": lambda i, t: _first_issue(i).update(summary=42),
    "float_reference": lambda i, t: _first_issue(i).update(referenceNumber=3.0),
    "null_issue": lambda i, t: i["issues"].append(None),
    "precedents_not_a_list": lambda i, t: _first_issue(i).update(precedents={"url": "x"}),
    "unknown_topic_field": lambda i, t: t["topics"] and t["topics"][0].update(score=1),
    "anchor_page_as_text": lambda i, t: (
        t["topics"] and t["topics"][0].update(anchor={"kind": "page", "page": "7"})
    ),
}
# Values the reference reads without coercion: these must stay on the SQL path.
PLAIN_VARIANTS = {
    "missing_optional_fields": lambda i, t: [
        _first_issue(i).pop(k) for k in ("sidekickId", "severityReasoning", "evidence")
    ],
    "nulls_and_empty_lists": lambda i, t: _first_issue(i).update(
        ruleContext=None, precedents=[], createdAt=None, summary=None
    ),
    "missing_ids": lambda i, t: [
        _first_issue(i).update(id=""),
        t["topics"] and t["topics"][0].pop("id"),
    ],
    "fractional_utc_timestamp": lambda i, t: _first_issue(i).update(
        updatedAt="2026-11-02T10:00:00.123456+00:00"
    ),
    "repeated_topic_member": lambda i, t: (
        t["topics"] and t["topics"][0]["issues"].append(t["topics"][0]["issues"][0])
    ),
    "anchor_with_page": lambda i, t: (
        t["topics"]
        and t["topics"][0].update(anchor={"kind": "page", "start": 1.5, "end": 2, "page": 4})
    ),
    "unicode_text": lambda i, t: _first_issue(i).update(summary="Prix « 50 % » \u2028 ✓"),
    "unknown_page_fields": lambda i, t: i.update(pageToken="abc") or t.update(next=None),
    # DuckDB keeps big numbers' digits: the evidence text stays exact
    "huge_evidence_number": lambda i, t: _first_issue(i).update(
        evidence=[{"kind": "timecode", "start": 10**30, "end": 12.5}]
    ),
}


def build_bodies() -> tuple[dict, set[str], set[str]]:
    """{(sid, aid): (issues, topics)}, odd asset ids, plain-variant asset ids."""
    bodies: dict[tuple[str, str], tuple[dict, dict]] = {}
    odd, variants = set(), set()
    # Assets with issues and topics for every change (the generator gives some none).
    candidates = (f"asset-{k:04d}" for k in range(10_000))
    changes = [*ODDITIES.items(), *PLAIN_VARIANTS.items(), *[(None, None)] * 25]
    for n, (name, change) in enumerate(changes):
        sid = f"sub-{n // 3}"  # three assets per submission
        for aid in candidates:
            issues, topics = served(aid, sid)
            if len(issues["issues"]) >= 2 and (change is None or topics["topics"]):
                break
        if change is not None:
            change(issues, topics)
            (odd if name in ODDITIES else variants).add(aid)
        bodies[(sid, aid)] = (issues, topics)
    return bodies, odd, variants


def reference_rows(bodies: dict, load_id: str) -> dict[str, list[dict]]:
    rows = flatten.Rows(ASSET_TABLES)
    for (sid, aid), (issues, topics) in bodies.items():
        # Through JSON text, as the pipeline stores and reads them.
        issues, topics = json.loads(json.dumps(issues)), json.loads(json.dumps(topics))
        membership = flatten.topic_membership(topics)
        flatten.flatten_issues(
            rows, issues, submission_id=sid, asset_id=aid, membership=membership, load_id=load_id
        )
        flatten.flatten_topics(rows, topics, submission_id=sid, asset_id=aid, load_id=load_id)
    return {table: rows.arrow(table).to_pylist() for table in ASSET_TABLES}


def keyed(table: str, rows: list[dict]) -> dict[tuple, dict]:
    key = TABLES[table].primary_key
    out = {tuple(r[k] for k in key): r for r in rows}
    assert len(out) == len(rows), f"duplicate keys in {table}"
    return out


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    bodies, odd, variants = build_bodies()
    responses = [
        Response(kind, sid, aid, body, FETCHED)
        for (sid, aid), (issues, topics) in bodies.items()
        for kind, body in (("issues", issues), ("topics", topics))
    ]
    path = tmp_path_factory.mktemp("flatten-sql") / "warehouse.duckdb"
    with connected(path) as conn:
        steps.ensure_schema(conn)
        with transaction(conn):
            replace_rows(
                conn,
                "api_responses",
                steps.responses_table(responses, "L-fetch"),
                scope_column=("kind", "submission_id", "asset_id"),
            )
        yield conn, bodies, odd, variants


def test_plain_assets_take_the_sql_path_and_odd_ones_python(warehouse):
    conn, bodies, odd, variants = warehouse
    staged = flatten_sql.stage_results(conn, sorted({sid for sid, _ in bodies}), load_id="L")
    assert {aid for _, aid in staged.python_assets} == odd
    fast = {aid for _, aid, _ in staged.fetched}
    assert fast == {aid for _, aid in bodies} - odd and variants <= fast
    counts = {aid: n for _, aid, n in staged.fetched}
    assert all(
        counts[aid] == len(body[0]["issues"]) for (_, aid), body in bodies.items() if aid in fast
    )


def test_rebuild_writes_the_reference_rows(warehouse):
    conn, bodies, _odd, _variants = warehouse
    ids = sorted({sid for sid, _ in bodies})
    # Twice: the second run replaces every row (delete + insert by key).
    for load_id in ("L-first", "L-second"):
        counts = steps.rebuild_tables(conn, ids, load_id=load_id)
    expected = reference_rows(bodies, "L-second")
    for table in ASSET_TABLES:
        cursor = conn.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        actual = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        assert counts[table] == len(expected[table]) == len(actual), table
        want, got = keyed(table, expected[table]), keyed(table, actual)
        assert got.keys() == want.keys(), table
        for key, row in want.items():
            assert got[key] == row, (table, key)
    extras = [r["_extra"] for r in expected["issues"] if r["_extra"]]
    assert len(extras) >= 3  # the odd fields really landed in _extra
