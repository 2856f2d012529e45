"""The table printed once every report is written: verdicts, worst submissions, where to look."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from mmq.warehouse.quality import verdict_counts

VERDICTS = ("blocked", "needs_review", "clear")
WORST = 5


@dataclass(frozen=True)
class DemoSummary:
    verdicts: dict[str, int]
    worst: list[tuple]  # submission_id, score, verdict, assets, failed, open issues, top rule
    reports_index: Path
    dagster_url: str
    logs_dir: Path
    seconds: float
    scenario: str = ""  # what the driver did: submissions, assets, retries


def read_summary(analytics: Path, submission_ids: list[str]) -> tuple[dict[str, int], list[tuple]]:
    with duckdb.connect(str(analytics), read_only=True) as conn:
        verdicts = verdict_counts(conn, submission_ids)
        worst = conn.execute(
            "SELECT submission_id, score, verdict, asset_count, assets_failed, open_count, "
            "       coalesce(top_rule_codes->>'$[0].rule_code', '') "
            "FROM submission_quality WHERE submission_id IN (SELECT unnest(?)) "
            "ORDER BY score, open_critical DESC, open_count DESC, submission_id LIMIT ?",
            [submission_ids, WORST],
        ).fetchall()
    return verdicts, worst


def render_summary(summary: DemoSummary, width: int = 120) -> Group:
    total = sum(summary.verdicts.values())
    wide = width >= 100  # room for the top rule code too
    verdicts = Table(title="Submissions by verdict", title_justify="left")
    verdicts.add_column("verdict")
    verdicts.add_column("submissions", justify="right")
    verdicts.add_column("share", justify="right")
    styles = {"blocked": "red", "needs_review": "yellow", "clear": "green"}
    for verdict in (*VERDICTS, *sorted(set(summary.verdicts) - set(VERDICTS))):
        count = summary.verdicts.get(verdict, 0)
        share = f"{count / total:.0%}" if total else "–"
        verdicts.add_row(Text(verdict, style=styles.get(verdict, "")), str(count), share)
    verdicts.add_row(Text("total", style="bold"), str(total), "")

    # Compact, borderless columns: the full ids must fit an 80-column terminal.
    worst = Table(
        title=f"{WORST} worst submissions",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    worst.add_column("submission", no_wrap=True, min_width=36)
    worst.add_column("score", justify="right")
    worst.add_column("verdict", no_wrap=True)
    worst.add_column("assets", justify="right")
    worst.add_column("failed", justify="right")
    worst.add_column("open", justify="right")
    if wide:
        worst.add_column("top rule", no_wrap=True)
    for sid, score, verdict, assets, failed, open_issues, rule in summary.worst:
        cells = [sid, str(score), Text(verdict, style=styles.get(verdict, "")), str(assets)]
        cells += [str(failed), str(open_issues)]
        worst.add_row(*cells, *([rule or "–"] if wide else []))

    where = Table.grid(padding=(0, 2))
    where.add_column(style="bold")
    where.add_column()
    where.add_row("HTML reports", str(summary.reports_index))
    where.add_row("Dagster UI", summary.dagster_url)
    where.add_row("notebooks", "make notebooks  (JupyterLab on notebooks/, reads analytics.duckdb)")
    where.add_row("service logs", str(summary.logs_dir))
    return Group(
        Text(f"Demo complete in {summary.seconds:.0f}s", style="bold green"),
        Text(f"scenario: {summary.scenario}"),
        verdicts,
        worst,
        where,
    )
