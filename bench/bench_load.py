"""Load-step throughput: flattened rows per second of ``steps.rebuild_tables`` (issue 4: ≥ 50,000).

A temporary warehouse gets N submissions' worth of realistic raw API responses: the simulator's
own deterministic generator (``simulator/results.py``) gives each asset its issues, topics and
orphans, shaped as the simulator's routes serve them (status, issues, topics bodies); a few
issues carry fields we do not know yet or miss optional ones, so ``_extra`` and NULL paths are
exercised. Events land through ``steps.land_events`` and responses through the same table
builder and ``replace_rows`` call as ``steps.fetch_raw`` (no HTTP here: that is
``bench_pipeline.py``'s job).

Then, in one run:

* ``rebuild cold``   — ``rebuild_tables`` over every submission into empty tables;
* ``rebuild rerun``  — the same again, which deletes and re-inserts every row (idempotency path);
* the per-phase breakdown of both (read, sql_parse_flatten = DuckDB parsing and flattening
  issues/topics, json_parse + flatten = Python for statuses and odd bodies, arrow build,
  delete, insert, commit — which includes DuckDB's automatic checkpoint when the commit's WAL
  exceeds ``checkpoint_threshold``), and ``run_checks`` / ``compute_submission_quality``;
* ``baseline``       — the same rows inserted row by row with ``executemany`` into a scratch
  warehouse (what the issue forbids), on the first ``--baseline-rows`` rows, and the ratio.

PASS when both rebuilds reach ``--target`` rows/s.

    python bench/bench_load.py --quick
    python bench/bench_load.py                              # 2,000 submissions, ~130k rows
    python bench/bench_load.py --checkpoint-threshold 1GB   # checkpoint deferred, timed apart
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from mmq.warehouse import checks, flatten, quality, steps  # noqa: E402
from mmq.warehouse.connection import connected, transaction  # noqa: E402
from mmq.warehouse.fetch import Response  # noqa: E402
from mmq.warehouse.load import replace_rows  # noqa: E402
from mmq.warehouse.schema import TABLES, create_all  # noqa: E402
from simulator.results import generate_asset_results, outcome  # noqa: E402

COMPLETED = "asset.processing.completed"
FAILED = "asset.processing.failed"
FLAT_TABLES = (
    "submissions",
    "assets",
    "asset_failures",
    "issues",
    "issue_precedents",
    "topics",
    "topic_issues",
)
PHASES = (
    "read",
    "sql_parse_flatten",
    "json_parse",
    "flatten",
    "arrow_build",
    "delete",
    "insert",
    "commit",
)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _issue_as_served(issue: dict, rng: random.Random, oddity_share: float) -> dict:
    issue = dict(issue)
    roll = rng.random()
    if roll < oddity_share / 3:
        issue["confidence"] = round(rng.random(), 3)  # a field the schema does not know
    elif roll < 2 * oddity_share / 3:
        issue["ruleContext"] = dict(issue["ruleContext"], newThing={"v": 1})
        issue["updatedAt"] = "not a time"  # kept in _extra, column NULL
    elif roll < oddity_share:
        del issue["sidekickId"]  # optional field missing
        issue["severityReasoning"] = None
    return issue


def _topic_as_served(topic: dict) -> dict:
    anchor = topic["anchor"]
    if anchor is not None:  # the route's model drops absent optional anchor fields
        anchor = {k: v for k, v in anchor.items() if v is not None}
    return dict(topic, anchor=anchor)


def build_corpus(submissions: int, seed: int, oddity_share: float):
    """(feed events, raw responses) for ``submissions`` submissions of 1–5 assets each."""
    rng = random.Random(seed)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    events: list[dict] = []
    responses: list[Response] = []
    workspace = "ws_bench"
    for s in range(submissions):
        sid = _uuid(rng)
        created = base + timedelta(minutes=7 * s)
        assets = []
        for _ in range(rng.randint(1, 5)):
            aid = _uuid(rng)
            failed, retryable, message, error_type = outcome(aid, 0, 0.08, 0.5)
            filename = f"spot-{aid[:6]}.mp4"
            finished = created + timedelta(seconds=rng.randrange(20, 600))
            results = None if failed else generate_asset_results(aid, sid, filename, created)
            assets.append((aid, filename, failed, retryable, message, error_type, finished))
            data = {"asset_id": aid, "submission_id": sid, "workspace_id": workspace}
            data |= {"status": "failed" if failed else "completed", "filename": filename}
            if failed:
                data["error_message"] = message
            else:
                data["issue_count"] = len(results.issues)
            seq = len(events) + 1
            event_id = f"evt_{_uuid(rng)}"
            body = {
                "id": event_id,
                "type": FAILED if failed else COMPLETED,
                "timestamp": _iso(finished),
                "data": data,
            }
            events.append(
                {
                    "seq": seq,
                    "event_id": event_id,
                    "webhook_id": event_id,
                    "event_type": body["type"],
                    "event_timestamp": _iso(finished),
                    "received_at": _iso(finished + timedelta(seconds=1)),
                    "is_parseable": True,
                    "is_known_type": True,
                    "is_test": False,
                    "body": json.dumps(body, separators=(",", ":")),
                }
            )
            if results is None:
                continue
            fetched = finished + timedelta(seconds=5)
            issues = [_issue_as_served(i, rng, oddity_share) for i in results.enriched_issues()]
            responses.append(
                Response(
                    "issues",
                    sid,
                    aid,
                    {"assetId": aid, "submissionId": sid, "issues": issues},
                    fetched,
                )
            )
            topics = {
                "assetId": aid,
                "topics": [_topic_as_served(t) for t in results.topics],
                "orphanIssues": results.orphan_issues,
                "metadata": results.metadata,
            }
            responses.append(Response("topics", sid, aid, topics, fetched))
        failed_assets = [a for a in assets if a[2]]
        status = {
            "submissionId": sid,
            "workflowId": f"asset-processing-{_uuid(rng)}",
            "workspaceId": workspace,
            "status": "failed" if failed_assets else "complete",
            "progressPercent": 100,
            "createdAt": _iso(created),
            "completedAt": _iso(max(a[6] for a in assets)),
            "errorMessage": failed_assets[0][4] if failed_assets else None,
            "isRetryable": any(a[3] for a in failed_assets),
            "assets": [
                {
                    "assetId": aid,
                    "versionGroupId": _uuid(rng),
                    "versionNumber": 1,
                    "status": "failed" if failed else "complete",
                    "filename": filename,
                    "issueCount": None if failed else 0,
                    "errorMessage": message,
                    "errorType": error_type,
                    "isRetryable": retryable,
                    "retryCount": 0,
                }
                for aid, filename, failed, retryable, message, error_type, _ in assets
            ],
        }
        responses.append(Response("submission", sid, "", status, created + timedelta(hours=1)))
    return events, responses


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def rebuild(conn, ids: list[str], label: str) -> tuple[int, float, dict[str, float]]:
    timings: dict[str, float] = {}
    counts, seconds = timed(
        steps.rebuild_tables, conn, ids, load_id=steps.new_load_id(label), timings=timings
    )
    return sum(counts.values()), seconds, timings


def baseline_row_by_row(conn, scratch: Path, limit: int) -> tuple[int, float]:
    """The forbidden path: ``executemany`` of single-row INSERTs into a scratch warehouse."""
    batches = []
    left = limit
    for table in FLAT_TABLES:
        if left <= 0:
            break
        names = TABLES[table].column_names
        rows = conn.execute(f"SELECT {', '.join(names)} FROM {table} LIMIT {left}").fetchall()
        left -= len(rows)
        batches.append((table, names, rows))
    with connected(scratch) as target:
        create_all(target)
        start = time.perf_counter()
        with transaction(target):
            for table, names, rows in batches:
                marks = ", ".join("?" for _ in names)
                target.executemany(
                    f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", rows
                )
        seconds = time.perf_counter() - start
    return sum(len(b[2]) for b in batches), seconds


def line(label: str, rows: int, seconds: float) -> str:
    rate = rows / seconds if seconds else float("inf")
    return f"{label:<26} {rows:>9,} rows {seconds:8.3f} s {rate:>12,.0f} rows/s"


def breakdown(timings: dict[str, float]) -> str:
    parts = [f"{p} {timings[p]:.3f}" for p in PHASES if p in timings]
    parts += [f"{p} {v:.3f}" for p, v in timings.items() if p not in PHASES]
    return "    phases (s): " + ", ".join(parts)


def warm_up() -> float:
    """One-time import costs (pyarrow pulls in pandas to convert aware datetimes) that the
    first call of a process pays, so that the figures below are per-call costs."""
    start = time.perf_counter()
    flatten.Rows(["loads"]).arrow("loads")
    pa.table({"t": [datetime.now(UTC)]}, schema=pa.schema([("t", pa.timestamp("us", "UTC"))]))
    return time.perf_counter() - start


def measure(conn, args, events, responses, ids, scratch: Path) -> tuple[float, float, float]:
    landed, seconds = timed(steps.land_events, conn, events, load_id="L-events")
    print(line("land_events", landed.count, seconds))

    def store() -> int:
        table = steps.responses_table(responses, "L-fetch")
        with transaction(conn):
            return replace_rows(
                conn, "api_responses", table, scope_column=("kind", "submission_id", "asset_id")
            )

    stored, seconds = timed(store)
    print(line("fetch_raw: store responses", stored, seconds))
    # The corpus is millions of Python objects a pipeline process never holds: drop it, or
    # every garbage collection during the rebuilds walks it.
    events.clear()
    responses.clear()
    gc.collect()
    _, seconds = timed(conn.execute, "CHECKPOINT")
    print(f"{'checkpoint':<26} {'':>14} {seconds:8.3f} s")

    rows, cold_s, cold_t = rebuild(conn, ids, "cold")
    print(line("rebuild cold", rows, cold_s))
    print(breakdown(cold_t))
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    rerun_rows, rerun_s, rerun_t = rebuild(conn, ids, "rerun")
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    print(line("rebuild rerun (replace)", rerun_rows, rerun_s))
    print(breakdown(rerun_t))
    outcomes, seconds = timed(checks.run_checks, conn, ids)
    failing = [o.name for o in outcomes if not o.passed]
    print(f"{'run_checks':<26} {len(ids):>9,} subs {seconds:8.3f} s  failing: {failing}")
    written, seconds = timed(
        quality.compute_submission_quality,
        conn,
        ids,
        weights=quality.ScoreWeights(),
        now=datetime.now(UTC),
        load_id="L-quality",
    )
    print(f"{'compute_submission_quality':<26} {written:>9,} subs {seconds:8.3f} s")
    _, seconds = timed(conn.execute, "CHECKPOINT")
    print(f"{'checkpoint after rebuilds':<26} {'':>14} {seconds:8.3f} s")
    base_rows, base_s = baseline_row_by_row(conn, scratch, args.baseline_rows)
    print(line("baseline executemany", base_rows, base_s))
    return rows / cold_s, rerun_rows / rerun_s, base_rows / base_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=2000, help="submissions (default 2000)")
    parser.add_argument("--quick", action="store_true", help="200 submissions, small baseline")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--oddity-share", type=float, default=0.005, help="odd issues share")
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    parser.add_argument("--target", type=float, default=50_000, help="rows/s to pass")
    parser.add_argument("--profile", action="store_true", help="cProfile the rerun")
    parser.add_argument(
        "--checkpoint-threshold",
        help="DuckDB checkpoint_threshold for the run (default: DuckDB's 16MB, so a big commit "
        "also checkpoints); e.g. 1GB defers checkpoints to CHECKPOINT/close",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.submissions, args.baseline_rows = 200, 3_000

    events, responses = build_corpus(args.submissions, args.seed, args.oddity_share)
    ids = list(dict.fromkeys(r.submission_id for r in responses))
    print(f"corpus: {len(ids):,} submissions, {len(events):,} events, {len(responses):,} responses")
    print(f"{'warm-up (one-time imports)':<26} {'':>14} {warm_up():8.3f} s")
    with (
        tempfile.TemporaryDirectory(prefix="bench-load-") as tmp,
        connected(Path(tmp) / "warehouse.duckdb") as conn,
    ):
        steps.ensure_schema(conn)
        if args.checkpoint_threshold:
            conn.execute("SET checkpoint_threshold = ?", [args.checkpoint_threshold])
        cold_rate, rerun_rate, base_rate = measure(
            conn, args, events, responses, ids, Path(tmp) / "scratch.duckdb"
        )
    print(
        f"ratio vs baseline: cold {cold_rate / base_rate:.1f}x, rerun {rerun_rate / base_rate:.1f}x"
    )
    passed = min(cold_rate, rerun_rate) >= args.target
    print(f"{'PASS' if passed else 'FAIL'}: load step ≥ {args.target:,.0f} rows/s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
