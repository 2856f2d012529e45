"""Properties of the results generator: deterministic from the asset id, realistic and varied,
and always consistent (every issue exactly once in topics ∪ orphans, topics of ≥ 2 issues)."""

from __future__ import annotations

import random
import re
import uuid
from collections import Counter
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from mmq.contract import ISSUE_STATUSES, SEVERITIES
from simulator.results import (
    RULE_BY_CODE,
    cached_asset_results,
    enrichment,
    generate_asset_results,
    issue_count_for,
    outcome,
)
from simulator.schemas import IssuesOut, TopicsOut

asset_ids = st.uuids().map(str)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
filenames = st.from_regex(r"[a-z][a-z0-9-]{0,20}\.(mp4|png|pdf)", fullmatch=True)
CREATED = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)


def _sample(n: int) -> list:
    rng = random.Random(1234)  # a fixed population: the statistics below are not flaky
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]
    return [generate_asset_results(a, "s", "f.mp4", CREATED) for a in ids]


@settings(max_examples=150, deadline=None)
@given(asset_ids, filenames, moments)
def test_results_are_consistent(asset_id, filename, created):
    res = generate_asset_results(asset_id, "sub", filename, created)
    n = len(res.issues)
    assert 0 <= n <= 40
    assert n == issue_count_for(asset_id)
    assert [i["referenceNumber"] for i in res.issues] == list(range(1, n + 1))
    assert len({i["id"] for i in res.issues}) == n
    for issue in res.issues:
        assert issue["severity"] in SEVERITIES
        assert issue["status"] in ISSUE_STATUSES
        assert issue["ruleCode"] in RULE_BY_CODE
        assert issue["updatedAt"] >= issue["createdAt"]
        for precedent in issue["precedents"]:
            assert re.fullmatch(r"\d{4}-\d\d-\d\d", precedent["date"])
            assert precedent["url"].startswith("https://")
    # Every issue exactly once in topics ∪ orphans; every topic holds at least two.
    placed = [i["id"] for t in res.topics for i in t["issues"]] + [
        i["id"] for i in res.orphan_issues
    ]
    assert sorted(placed) == sorted(i["id"] for i in res.issues)
    assert all(len(t["issues"]) >= 2 for t in res.topics)
    assert all((t["anchor"] is None) == (t["kind"] == "root_cause") for t in res.topics)
    assert res.metadata["topicCount"] == len(res.topics)
    assert res.metadata["orphanCount"] == len(res.orphan_issues)
    # The wire schemas accept what the generator makes (what the routes send).
    TopicsOut.model_validate(
        {"assetId": asset_id, "topics": res.topics, "orphanIssues": res.orphan_issues}
        | {"metadata": res.metadata}
    )
    IssuesOut.model_validate(
        {"assetId": asset_id, "submissionId": "sub", "issues": res.enriched_issues()}
    )


@settings(max_examples=50, deadline=None)
@given(asset_ids, filenames, moments)
def test_results_are_deterministic_from_the_asset(asset_id, filename, created):
    first = generate_asset_results(asset_id, "sub", filename, created)
    again = generate_asset_results(asset_id, "sub", filename, created)
    assert first == again
    assert cached_asset_results(asset_id, "sub", filename, created) == first
    for issue in first.issues:
        assert enrichment(issue) == enrichment(dict(issue))
        context = enrichment(issue)["ruleContext"]
        assert context["code"] == issue["ruleCode"]
        assert context["code"] not in context["relatedCodes"]


@given(asset_ids, asset_ids)
def test_different_assets_get_different_results(a, b):
    if a == b:
        return
    ra = generate_asset_results(a, "s", "f.mp4", CREATED)
    rb = generate_asset_results(b, "s", "f.mp4", CREATED)
    assert not ({i["id"] for i in ra.issues} & {i["id"] for i in rb.issues})


def test_realistic_and_varied_over_many_assets():
    results = _sample(2000)
    counts = Counter(len(r.issues) for r in results)
    assert counts[0] > 0  # some clean assets
    assert sum(v for k, v in counts.items() if k >= 30) > 0  # and some very bad ones
    assert len(counts) > 25  # a spread of counts, not a handful of values
    severity = Counter(i["severity"] for r in results for i in r.issues)
    # Skewed: critical findings are the rarest, minor ones the most common.
    assert severity["CRITICAL"] < severity["MAJOR"] < severity["MINOR"]
    assert severity["CRITICAL"] < severity["INFO"]
    assert severity["CRITICAL"] / sum(severity.values()) < 0.15
    statuses = Counter(i["status"] for r in results for i in r.issues)
    assert set(statuses) == set(ISSUE_STATUSES)
    rules = Counter(i["ruleCode"] for r in results for i in r.issues)
    assert set(rules) == set(RULE_BY_CODE)
    with_topics = sum(bool(r.topics) for r in results)
    with_orphans = sum(bool(r.orphan_issues) for r in results)
    assert 0.3 < with_topics / len(results) < 0.95
    assert with_orphans > 0
    precedents = Counter(len(i["precedents"]) for r in results for i in r.issues)
    assert {0, 1, 2, 3} <= set(precedents)


def test_outcome_failure_share_and_retryable_share():
    rng = random.Random(99)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(4000)]
    first = [outcome(a, 0, 0.2, 0.5) for a in ids]
    failed = [o for o in first if o[0]]
    assert 0.17 < len(failed) / len(ids) < 0.23
    retryable = [o for o in failed if o[1]]
    assert 0.4 < len(retryable) / len(failed) < 0.6
    assert all(o[2] and o[3] for o in failed)  # a message and a type
    assert all(o == (False, False, None, None) for o in first if not o[0])
    assert all(o[3] == "TIMEOUT" for o in retryable)
    # Deterministic per (asset, attempt), and retries fail less often.
    assert [outcome(a, 0, 0.2, 0.5) for a in ids[:50]] == first[:50]
    retried = [outcome(a, 1, 0.2, 0.5) for a in ids]
    assert sum(o[0] for o in retried) < len(failed)
    assert not any(outcome(a, 0, 0.0, 0.5)[0] for a in ids)
    assert all(outcome(a, 0, 1.0, 0.5)[0] for a in ids)
