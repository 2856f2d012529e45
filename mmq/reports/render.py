"""The Jinja2 environment and page rendering: autoescape on, templates compiled once.

Pages are self-contained: the stylesheet and the index's sort script are inlined, and a
Content-Security-Policy ``<meta>`` allows exactly those two blocks (by hash) and nothing else,
so even a string that slipped past escaping could neither run a script nor load anything.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from mmq.reports import charts
from mmq.reports.data import (
    SEVERITIES,
    STATUSES,
    VERDICTS,
    DailyRow,
    IndexRow,
    SubmissionReport,
    safe_href,
)

# A submission id becomes a file name: only ids that cannot climb out of the reports directory
# (no separators, no leading dot) or overwrite the index/digest get a file and a link.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_RESERVED = {"index", "daily"}


def report_filename(submission_id: object) -> str | None:
    if (
        not isinstance(submission_id, str)
        or not _SAFE_NAME.fullmatch(submission_id)
        or submission_id.lower() in _RESERVED
    ):
        return None
    return f"{submission_id}.html"


def report_href(submission_id: object) -> str | None:
    name = report_filename(submission_id)
    return None if name is None else quote(name)


def _ts(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()


def _duration(seconds: float | None, signed: bool = False) -> str:
    if seconds is None:
        return "—"
    sign = ("+" if seconds >= 0 else "−") if signed else ("" if seconds >= 0 else "−")
    s = abs(seconds)
    if s < 10:
        text = f"{s:.2f} s"
    elif s < 60:
        text = f"{s:.0f} s"
    elif s < 3600:
        text = f"{int(s // 60)} min {int(s % 60)} s"
    elif s < 86400:
        text = f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    else:
        text = f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"
    return sign + text


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def _num(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _words(value: str | None) -> str:
    """``AWAITING_HUMAN_INPUT`` → ``Awaiting human input`` (display only)."""
    if not value:
        return "—"
    text = str(value).replace("_", " ").strip()
    return text[:1].upper() + text[1:].lower()


def _yesno(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def _css_token(value: str | None, known: tuple[str, ...]) -> str:
    """A class-name suffix from a known enum value; anything else (hostile or new) → other."""
    return value.lower() if value in known else "other"


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


def _static(name: str) -> str:
    return resources.files("mmq.reports").joinpath("static", name).read_text(encoding="utf-8")


@cache
def environment() -> Environment:
    """The shared environment: templates are compiled on first use and cached by Jinja2."""
    env = Environment(
        loader=PackageLoader("mmq.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    css, script = _static("report.css"), _static("sort.js")
    env.globals.update(
        css=Markup(css),
        sort_script=Markup(script),
        csp_style=_csp_hash(css),
        csp_script=_csp_hash(script),
        charts=charts,
        SEVERITIES=SEVERITIES,
        STATUSES=STATUSES,
        VERDICTS=VERDICTS,
        VERDICT_LABELS=charts.VERDICT_LABELS,
        report_href=report_href,
    )
    env.filters.update(
        ts=_ts,
        iso=_iso,
        duration=_duration,
        pct=_pct,
        num=_num,
        words=_words,
        yesno=_yesno,
        href=safe_href,
        plural=_plural,
        sev_class=lambda v: _css_token(v, SEVERITIES),
        status_class=lambda v: _css_token(v, STATUSES),
        verdict_class=lambda v: _css_token(v, VERDICTS),
    )
    return env


def _asset_note(asset) -> str | None:
    if asset.status == "failed":
        return "failed"
    if asset.status != "complete":
        return _words(asset.status).lower()
    if asset.results_state != "fetched":
        return "results pending"
    return None


def render_report(report: SubmissionReport, env: Environment | None = None) -> str:
    env = env or environment()
    q = report.quality
    status_totals: dict[str, int] = {}
    for counts in report.matrix.values():
        for status, n in counts.items():
            status_totals[status] = status_totals.get(status, 0) + n
    chart_severity = None
    if report.issue_count:
        chart_severity = charts.severity_mix(
            "chart-severity",
            [(a.filename or a.asset_id, a.severity_counts, _asset_note(a)) for a in report.assets],
            report.severities,
        )
    chart_rules = None
    if report.top_rules:
        chart_rules = charts.bars(
            "chart-rules",
            "Top rule codes by number of issues",
            [(rule.rule_code, rule.rule_title, rule.issues) for rule in report.top_rules],
            label_width=110,
            bar_width=330,
        )
    return env.get_template("submission.html.j2").render(
        r=report,
        q=q,
        status_totals=status_totals,
        chart_score=charts.score_ring("chart-score", q["score"], q["verdict"]),
        chart_severity=chart_severity,
        chart_rules=chart_rules,
    )


def render_no_data(submission_id: str, env: Environment | None = None) -> str:
    env = env or environment()
    return env.get_template("no_data.html.j2").render(submission_id=submission_id)


def render_index(
    rows: list[IndexRow], computed_at: datetime | None, env: Environment | None = None
) -> str:
    env = env or environment()
    verdicts = {v: sum(1 for r in rows if r.verdict == v) for v in VERDICTS}
    scores = [r.score for r in rows if r.score is not None]
    return env.get_template("index.html.j2").render(
        rows=rows,
        verdicts=verdicts,
        scores=scores,
        chart_scores=charts.score_histogram("chart-scores", [(r.score, r.verdict) for r in rows]),
        score_avg=sum(scores) / len(scores) if scores else None,
        computed_at=computed_at,
    )


def render_daily(
    days: list[DailyRow], computed_at: datetime | None, env: Environment | None = None
) -> str:
    env = env or environment()
    totals = {
        "submissions": sum(d.submissions for d in days),
        "assets": sum(d.assets for d in days),
        "assets_failed": sum(d.assets_failed for d in days),
        "issues": sum(d.issues for d in days),
        "open_issues": sum(d.open_issues for d in days),
        "verdicts": {v: sum(d.verdicts[v] for d in days) for v in VERDICTS},
    }
    by_day: dict[date, list[DailyRow]] = {}
    for d in days:  # newest day first, as loaded
        by_day.setdefault(d.day, []).append(d)
    per_day = [
        (day.isoformat(), {v: sum(r.verdicts[v] for r in rows) for v in VERDICTS})
        for day, rows in sorted(by_day.items())[-60:]  # the chart shows the last 60 days
    ]
    return env.get_template("daily.html.j2").render(
        by_day=by_day,
        days=days,
        totals=totals,
        chart_days=charts.verdict_columns("chart-days", per_day) if per_day else None,
        computed_at=computed_at,
    )
