"""HTML report rendering rate: reports per second against a warehouse with many submissions.

The warehouse: the test sample (simulator → signed webhooks → receiver → warehouse steps, about
12 submissions; or ``--analytics PATH`` to start from an existing ``analytics.duckdb``), copied
and then *replicated* in DuckDB SQL: every row of the per-submission tables
(submission_quality, submissions, assets, issues, issue_precedents, topics, topic_issues,
asset_failures, webhook_events) is inserted ``--copies - 1`` more times with ``-c<k>`` appended
to each of its ids (submission, asset, issue, topic, failure, event), so the copies are distinct
submissions with realistic contents and the tables keep their keys.

Three ways to produce the same pages, measured in the same run on the same ids:

* ``batched``  — ``write_submission_reports``: one query per table per batch of 500, then
  render and atomic write (what the pipeline's report asset does);
* ``naive``    — the baseline: ``render_submission_report`` + ``write_atomic`` per id, i.e.
  seven queries per report (what a per-report loop would do);
* ``render``   — Jinja2 + SVG rendering alone, from data loaded beforehand: no queries, no
  file writes (the ceiling for this template).

It prints reports/s for each and the ratios ``batched / naive`` and ``batched / render``.
Figures from ``--quick`` are noisy (a few hundred reports on a shared box).

    python bench/bench_reports.py --quick
    python bench/bench_reports.py --copies 250          # about 3,000 submissions
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from mmq.reports import data, render  # noqa: E402
from mmq.reports.write import (  # noqa: E402
    render_submission_report,
    write_atomic,
    write_daily_digest,
    write_index,
    write_submission_reports,
)
from mmq.warehouse.schema import FLAT_TABLES  # noqa: E402

# Every per-submission table a report reads.
REPLICATED_TABLES = ("submission_quality", *FLAT_TABLES, "webhook_events")
ID_COLUMNS = ("submission_id", "asset_id", "issue_id", "topic_id", "failure_id", "event_id")


def replicate(conn: duckdb.DuckDBPyConnection, copies: int) -> int:
    """Make every submission ``copies`` submissions (ids suffixed ``-c1``, ``-c2``, …)."""
    if copies > 1:
        for table in REPLICATED_TABLES:
            columns = [r[0] for r in conn.execute(f"DESCRIBE {table}").fetchall()]
            ids = [c for c in columns if c in ID_COLUMNS]
            replaced = ", ".join(f"{c} || '-c' || k::VARCHAR AS {c}" for c in ids)
            conn.execute(
                f"INSERT INTO {table} SELECT t.* REPLACE ({replaced}) "
                f"FROM {table} t, range(1, {int(copies)}) r(k)"
            )
        conn.execute("CHECKPOINT")
    return conn.execute("SELECT count(*) FROM submission_quality").fetchone()[0]


def source_warehouse(args, tmp: Path) -> Path:
    if args.analytics:
        return Path(args.analytics)
    from tests.sample import build_sample

    print("building the sample warehouse (simulator → receiver → warehouse) …", flush=True)
    return build_sample(tmp / "sample").analytics_path


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def fresh_dir(root: Path, name: str) -> Path:
    path = root / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="HTML report rendering rate (batched vs a naive per-report baseline).",
        epilog="Figures are wall-clock on this machine; compare the ratios, not the rates.",
    )
    parser.add_argument("--quick", action="store_true", help="small run: 20 copies, ~240 reports")
    parser.add_argument("--copies", type=int, help="replicas of each sample submission")
    parser.add_argument("--reports", type=int, help="reports to render (default: all)")
    parser.add_argument("--naive-reports", type=int, help="reports for the naive baseline")
    parser.add_argument("--analytics", help="start from this analytics.duckdb (not modified)")
    parser.add_argument("--keep", type=Path, help="keep the warehouse and pages in this folder")
    args = parser.parse_args(argv)
    copies = args.copies or (20 if args.quick else 250)

    with tempfile.TemporaryDirectory(prefix="mmq-bench-reports-") as tmp_name:
        tmp = args.keep or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        big = tmp / "analytics-big.duckdb"
        big.unlink(missing_ok=True)
        shutil.copyfile(source_warehouse(args, tmp), big)
        started = time.perf_counter()
        conn = duckdb.connect(str(big))
        try:
            total = replicate(conn, copies)
        finally:
            conn.close()
        built_s = time.perf_counter() - started
        print(
            f"warehouse: {total} submissions ({copies} copies each), "
            f"built in {built_s:.1f} s, {big.stat().st_size >> 20} MiB"
        )

        conn = duckdb.connect(str(big), read_only=True)
        try:
            ids = [r[0] for r in conn.execute(
                "SELECT submission_id FROM submission_quality ORDER BY submission_id"
            ).fetchall()]  # fmt: skip
            ids = ids[: args.reports] if args.reports else ids
            naive_ids = ids[: args.naive_reports or (len(ids) if args.quick else 300)]
            # Warm-up: template compilation and DuckDB's first-query costs are not per report.
            write_submission_reports(conn, ids[:5], fresh_dir(tmp, "warmup"))

            out = fresh_dir(tmp, "batched")
            t0 = time.perf_counter()
            written = write_submission_reports(conn, ids, out)
            batched_s = time.perf_counter() - t0
            assert len(written) == len(ids), "every replicated submission has a report"

            out = fresh_dir(tmp, "naive")
            t0 = time.perf_counter()
            for sid in naive_ids:
                write_atomic(out / f"{sid}.html", render_submission_report(conn, sid))
            naive_s = time.perf_counter() - t0

            reports = data.load_submission_reports(conn, ids)
            env = render.environment()
            t0 = time.perf_counter()
            size = sum(len(render.render_report(reports[sid], env)) for sid in ids)
            render_s = time.perf_counter() - t0

            t0 = time.perf_counter()
            write_index(conn, tmp / "batched")
            index_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            write_daily_digest(conn, tmp / "batched")
            daily_s = time.perf_counter() - t0
        finally:
            conn.close()

        batched, naive, ceiling = (
            rate(len(ids), batched_s),
            rate(len(naive_ids), naive_s),
            rate(len(ids), render_s),
        )
        label = "quick, noisy" if args.quick else "full"
        print(f"\nreports ({label}); mean page {size / len(ids) / 1024:.1f} KiB")
        print(f"  batched  write_submission_reports  {len(ids):6d} reports  {batched:8.1f} /s")
        print(f"  naive    per-report queries        {len(naive_ids):6d} reports  {naive:8.1f} /s")
        print(f"  render   Jinja2 + SVG only         {len(ids):6d} reports  {ceiling:8.1f} /s")
        print(f"  ratio    batched / naive  = {batched / naive:.2f}x")
        print(f"  ratio    batched / render = {batched / ceiling:.2f} (share of the ceiling)")
        print(f"  index.html ({total} rows) {index_s:.2f} s · daily.html {daily_s:.2f} s")
        if args.keep:
            print(f"kept in {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
