"""Live progress: what the receiver landed, what Dagster ran, which reports exist.

Everything is read from the outside, as an operator would: the receiver's ``/metrics`` and
feed, the Dagster instance's run storage, the reports directory and ``analytics.duckdb``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
from rich.console import Group
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.text import Text

from mmq.feed import FeedUnavailable, ReceiverFeed
from mmq.reports.render import report_filename

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
FAILED = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
TERMINAL_SUBMISSION = ("complete", "failed")


@dataclass
class Snapshot:
    submitted: int = 0
    events_accepted: int = 0
    events_duplicate: int = 0
    latest_seq: int = 0
    runs_in_flight: int = 0
    runs_succeeded: int = 0
    runs_failed: int = 0
    failed_run_id: str | None = None
    reports_written: int = 0
    processed_seq: int = -1  # highest event seq published to analytics.duckdb
    settled: int = 0  # submissions terminal in analytics.duckdb, nothing pending
    index_current: bool = False  # index.html written after the latest publish

    def complete(self, expected: int) -> bool:
        """Every submission settled and reported, every landed event published, no run left."""
        return (
            self.submitted == expected
            and self.settled == expected
            and self.reports_written == expected
            and self.processed_seq == self.latest_seq
            and self.runs_in_flight == 0
            and self.index_current
        )


@dataclass
class Watcher:
    feed: ReceiverFeed
    instance: dg.DagsterInstance
    data_dir: Path
    submission_ids: list[str] = field(default_factory=list)

    def snapshot(self, submitted: int) -> Snapshot:
        snap = Snapshot(submitted=submitted)
        with contextlib.suppress(FeedUnavailable):
            metrics = self.feed.metrics()
            snap.events_accepted = int(metrics.get("mmq_receiver_events_accepted_total", 0))
            snap.events_duplicate = int(metrics.get("mmq_receiver_events_duplicate_total", 0))
            snap.latest_seq = self.feed.page(0, 1).latest_seq
        count = self.instance.get_runs_count
        snap.runs_in_flight = count(dg.RunsFilter(statuses=IN_FLIGHT))
        snap.runs_succeeded = count(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))
        failed = self.instance.get_runs(dg.RunsFilter(statuses=FAILED), limit=1)
        snap.runs_failed = count(dg.RunsFilter(statuses=FAILED)) if failed else 0
        snap.failed_run_id = failed[0].run_id if failed else None
        reports = self.data_dir / "reports"
        snap.reports_written = sum(
            (reports / (report_filename(sid) or "-")).is_file() for sid in self.submission_ids
        )
        self._read_analytics(snap)
        return snap

    def _read_analytics(self, snap: Snapshot) -> None:
        path = self.data_dir / "analytics.duckdb"
        index = self.data_dir / "reports" / "index.html"
        if not path.is_file() or not self.submission_ids:
            return
        try:
            published_at = path.stat().st_mtime
            with duckdb.connect(str(path), read_only=True) as conn:
                snap.processed_seq = conn.execute(
                    "SELECT coalesce(max(seq), -1) FROM webhook_events"
                ).fetchone()[0]
                snap.settled = conn.execute(
                    "SELECT count(*) FROM submission_quality WHERE submission_id IN "
                    "(SELECT unnest(?)) AND status IN ('complete', 'failed') "
                    "AND assets_pending = 0",
                    [self.submission_ids],
                ).fetchone()[0]
        except (duckdb.Error, OSError):
            return  # mid-swap or not created yet: next poll
        snap.index_current = index.is_file() and index.stat().st_mtime >= published_at


def render(snap: Snapshot, expected: int, elapsed: float) -> Group:
    bars = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(bar_width=40),
        TaskProgressColumn(),
        TextColumn("{task.completed:>4.0f}/{task.total:.0f}"),
    )
    bars.add_task("submissions created", total=expected, completed=snap.submitted)
    bars.add_task("submissions settled (data)", total=expected, completed=snap.settled)
    bars.add_task("HTML reports written", total=expected, completed=snap.reports_written)
    status = Text.assemble(
        ("events ", "bold"),
        f"{snap.events_accepted} landed ({snap.events_duplicate} dup)  ",
        ("runs ", "bold"),
        f"{snap.runs_in_flight} active, {snap.runs_succeeded} ok, ",
        (f"{snap.runs_failed} failed", "red" if snap.runs_failed else ""),
        f"  {elapsed:4.0f}s",
    )
    return Group(bars, status)
