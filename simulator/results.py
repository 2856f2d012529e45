"""Deterministic, realistic review results for an asset: issues, topics and orphans.

Everything is seeded from the asset id, so the same asset always yields the same results and
tests can compare the pipeline's tables with :func:`generate_asset_results` exactly.
"""

from __future__ import annotations

import functools
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

SEVERITIES = ("CRITICAL", "MAJOR", "MINOR", "INFO")
SEVERITY_WEIGHTS = (0.06, 0.22, 0.42, 0.30)  # skewed: critical findings are rare
STATUSES = ("OPEN", "ACKNOWLEDGED", "AWAITING_HUMAN_INPUT", "RESOLVED", "DISMISSED")
STATUS_WEIGHTS = (0.45, 0.15, 0.1, 0.2, 0.1)

# code, title, category, regulator, parents
RULES = (
    ("CAP_3.1", "Misleading advertising", "Misleading", "ASA", ["CAP_3"]),
    ("CAP_3.7", "Substantiation of claims", "Misleading", "ASA", ["CAP_3"]),
    ("CAP_3.35", "Comparisons with identifiable competitors", "Comparisons", "ASA", ["CAP_3"]),
    ("CAP_4.1", "Harm and offence", "Harm", "ASA", ["CAP_4"]),
    ("CAP_5.1", "Children", "Children", "ASA", ["CAP_5"]),
    ("CAP_8.4", "Promotional marketing: significant conditions", "Promotions", "ASA", ["CAP_8"]),
    ("CAP_12.1", "Medicinal claims", "Health", "ASA", ["CAP_12"]),
    ("CAP_13.1", "Weight control and slimming", "Health", "ASA", ["CAP_13"]),
    ("CAP_15.1", "Food and nutrition claims", "Food", "ASA", ["CAP_15"]),
    ("CAP_16.1", "Gambling", "Gambling", "ASA", ["CAP_16"]),
    ("CAP_18.1", "Alcohol", "Alcohol", "ASA", ["CAP_18"]),
    ("CAP_21.1", "Tobacco and e-cigarettes", "Tobacco", "ASA", ["CAP_21"]),
    ("BCAP_3.1", "Broadcast: misleading advertising", "Misleading", "Ofcom", ["BCAP_3"]),
    ("BCAP_5.2", "Broadcast: children", "Children", "Ofcom", ["BCAP_5"]),
    ("BCAP_32.2", "Broadcast: scheduling restrictions", "Scheduling", "Ofcom", ["BCAP_32"]),
)
RULE_BY_CODE = {rule[0]: rule for rule in RULES}
DECISIONS = ("Upheld", "Not upheld", "Informally resolved")
SUMMARIES = (
    "Claim '{w}' needs substantiation",
    "On-screen text about {w} is too small to read",
    "Qualifying condition for {w} appears only in small print",
    "Imagery may appeal particularly to under-18s ({w})",
    "Implied health benefit: {w}",
    "Price claim '{w}' lacks a reference price",
)
WORDS = (
    "free",
    "best value",
    "clinically proven",
    "new formula",
    "50% off",
    "guaranteed",
    "instant results",
    "limited time",
    "number one",
    "all natural",
)


@dataclass(frozen=True)
class AssetResults:
    issues: list[dict]
    topics: list[dict]
    orphan_issues: list[dict]
    metadata: dict = field(default_factory=dict)

    @functools.cached_property
    def enriched(self) -> list[dict]:
        return [dict(issue, **enrichment(issue)) for issue in self.issues]

    def enriched_issues(self) -> list[dict]:
        return self.enriched


def _rng(*parts: object) -> random.Random:
    return random.Random("|".join(str(p) for p in parts))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def outcome(asset_id: str, attempt: int, failure_rate: float, retryable_share: float):
    """Whether an attempt fails: (failed, retryable, error message, error type)."""
    rng = _rng("outcome", asset_id, attempt)
    # Retries succeed more often than first attempts, as transient faults clear.
    rate = failure_rate if attempt == 0 else failure_rate / 2
    if rng.random() >= rate:
        return False, False, None, None
    retryable = rng.random() < retryable_share
    if retryable:
        return True, True, "Transcoding worker timed out", "TIMEOUT"
    return (
        True,
        False,
        rng.choice(["Unsupported codec", "File is corrupted", "Media duration exceeds plan limit"]),
        "INVALID_MEDIA",
    )


def _issue(rng: random.Random, ref: int, created: datetime) -> dict:
    code = rng.choice(RULES)[0]
    severity = rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0]
    word = rng.choice(WORDS)
    precedents = [
        {
            "url": f"https://www.asa.org.uk/rulings/ruling-{ruling}.html",
            "title": f"ASA Ruling on {rng.choice(['Acme', 'Brightside', 'Nova', 'Zest'])} Ltd",
            "decision": rng.choice(DECISIONS),
            "date": (created - timedelta(days=rng.randrange(30, 2000))).strftime("%Y-%m-%d"),
        }
        # distinct rulings: one issue never cites the same precedent twice
        for ruling in rng.sample(
            range(10_000, 99_999), rng.choices((0, 1, 2, 3), (0.4, 0.3, 0.2, 0.1))[0]
        )
    ]
    updated = created + timedelta(minutes=rng.randrange(0, 600))
    return {
        "id": _uuid(rng),
        "referenceNumber": ref,
        "ruleCode": code,
        "summary": rng.choice(SUMMARIES).format(w=word),
        "severity": severity,
        "status": rng.choices(STATUSES, STATUS_WEIGHTS)[0],
        "sidekickId": _uuid(rng),
        "createdAt": _iso(created),
        "updatedAt": _iso(updated),
        "severityReasoning": f"{severity.title()} because the claim '{word}' is prominent.",
        "severityReasoningHeadline": f"Prominent claim: {word}",
        "precedents": precedents,
    }


def enrichment(issue: dict) -> dict:
    """The ``ruleContext`` and ``evidence`` an issues response adds to each issue."""
    code, title, category, regulator, parents = RULE_BY_CODE[issue["ruleCode"]]
    rng = _rng("evidence", issue["id"])
    related = sorted({rng.choice(RULES)[0] for _ in range(2)} - {code})
    start = rng.randrange(0, 120)
    return {
        "ruleContext": {
            "code": code,
            "title": title,
            "category": category,
            "regulator": regulator,
            "parentCodes": parents,
            "relatedCodes": related,
        },
        "evidence": [{"kind": "timecode", "start": start, "end": start + rng.randrange(1, 10)}],
    }


MAX_ISSUES = 40
RESULTS_CACHE_SIZE = 2048  # ~14 KB of results each: ~30 MB at most


def _issue_count(rng: random.Random) -> int:
    return min(MAX_ISSUES, int(rng.expovariate(1 / 9)))  # 0–40, most assets have a handful


def issue_count_for(asset_id: str) -> int:
    """How many issues :func:`generate_asset_results` gives this asset, without generating them."""
    return _issue_count(_rng("results", asset_id))


@functools.lru_cache(maxsize=RESULTS_CACHE_SIZE)
def cached_asset_results(
    asset_id: str, submission_id: str, filename: str, created_at: datetime
) -> AssetResults:
    return generate_asset_results(asset_id, submission_id, filename, created_at)


def generate_asset_results(
    asset_id: str, submission_id: str, filename: str, created_at: datetime
) -> AssetResults:
    rng = _rng("results", asset_id)
    count = _issue_count(rng)
    issues = [_issue(rng, ref, created_at) for ref in range(1, count + 1)]
    order = list(range(count))
    rng.shuffle(order)
    topics: list[dict] = []
    cursor = 0
    # Clusters of ≥ 2 issues become topics; what is left over stays orphaned.
    while count - cursor >= 2 and rng.random() < 0.7:
        size = min(count - cursor, rng.randrange(2, 6))
        members = [issues[i] for i in sorted(order[cursor : cursor + size])]
        cursor += size
        kind = rng.choice(("root_cause", "anchor"))
        start = rng.randrange(0, 100)
        topics.append(
            {
                "id": _uuid(rng),
                "title": f"{RULE_BY_CODE[members[0]['ruleCode']][1]} in {filename}",
                "summary": f"{size} findings share one cause around {start}s",
                "kind": kind,
                "anchor": {"kind": "timecode", "start": start, "end": start + 5}
                if kind == "anchor"
                else None,
                "issues": members,
            }
        )
    orphans = [issues[i] for i in sorted(order[cursor:])]
    metadata = {
        "clusteringModel": "topic-cluster-v2",
        "generatedAt": _iso(created_at),
        "topicCount": len(topics),
        "orphanCount": len(orphans),
    }
    return AssetResults(issues=issues, topics=topics, orphan_issues=orphans, metadata=metadata)
