"""The report pages against the real sample warehouse: every number shown is checked against the
warehouse tables with SQL written here, not against the loaders that produced it."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime

import pytest
from bs4 import BeautifulSoup

from mmq.reports import render_submission_report, write_submission_reports
from mmq.reports.write import write_atomic
from tests.reports.conftest import page

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
HTTP_LINK = re.compile(r"https?://[^\s/]+")


def scalar(conn, sql, *params):
    return conn.execute(sql, list(params)).fetchone()[0]


def quality_row(conn, sid) -> dict:
    cursor = conn.execute("SELECT * FROM submission_quality WHERE submission_id = ?", [sid])
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def each_report(rendered):
    for sid in rendered.submission_ids:
        yield sid, page(rendered.reports_dir / f"{sid}.html")


def test_every_submission_has_a_page(rendered):
    assert rendered.submission_ids, "the sample warehouse has no submission_quality rows"
    assert set(rendered.written) == set(rendered.submission_ids)
    for sid, path in rendered.written.items():
        assert path == rendered.reports_dir / f"{sid}.html" and path.is_file()


def test_header_shows_score_and_verdict_of_submission_quality(rendered, analytics):
    verdicts = set()
    for sid, doc in each_report(rendered):
        q = quality_row(analytics, sid)
        summary = doc.select_one("section#summary")
        assert summary.select_one('[data-field="submission_id"]').get_text() == sid
        assert summary.select_one('[data-field="score"]').get_text() == str(q["score"]), sid
        badge = summary.select_one('[data-field="verdict"]')
        assert badge["data-verdict"] == q["verdict"], sid
        assert f"verdict-{q['verdict']}" in badge["class"]
        ring = summary.select_one("svg#chart-score")
        assert f"{q['score']} of 100" in ring.title.get_text()
        assert doc.select_one('[data-tile="issues"] .value').get_text() == str(q["issue_count"])
        assert doc.select_one('[data-tile="open_critical"] .value').get_text() == str(
            q["open_critical"]
        )
        verdicts.add(q["verdict"])
    assert len(verdicts) >= 2, f"the sample should show more than one verdict: {verdicts}"


def test_asset_table_lists_exactly_the_submissions_assets(rendered, analytics):
    for sid, doc in each_report(rendered):
        expected = {
            asset_id: (filename, results)
            for asset_id, filename, results in analytics.execute(
                "SELECT asset_id, filename, results_state FROM assets WHERE submission_id = ?",
                [sid],
            ).fetchall()
        }
        rows = doc.select('table[data-table="assets"] tbody tr')
        assert {r["data-asset-id"] for r in rows} == set(expected), sid
        assert len(rows) == len(expected)
        severity_counts = Counter(
            analytics.execute(
                "SELECT asset_id, severity FROM issues WHERE submission_id = ?", [sid]
            ).fetchall()
        )
        for row in rows:
            asset_id = row["data-asset-id"]
            filename, results = expected[asset_id]
            assert row.select_one('[data-field="filename"]').get_text() == (filename or asset_id)
            # "none" means no results (the asset did not complete), not a missing value.
            shown = {"fetched": "Fetched", "pending": "Pending", "none": "No results"}
            assert row.select_one('[data-field="results"]').get_text() == shown[results]
            for cell in row.select("td[data-severity]"):
                assert int(cell.get_text()) == severity_counts[(asset_id, cell["data-severity"])]
            total = sum(n for (a, _), n in severity_counts.items() if a == asset_id)
            assert int(row.select_one('[data-field="issues"]').get_text()) == total


def test_severity_chart_has_one_mark_per_nonzero_asset_severity(rendered, analytics):
    charted = 0
    for sid, doc in each_report(rendered):
        nonzero = scalar(
            analytics,
            "SELECT count(*) FROM (SELECT DISTINCT asset_id, severity FROM issues "
            "WHERE submission_id = ?)",
            sid,
        )
        chart = doc.select_one("svg#chart-severity")
        if nonzero == 0:
            assert chart is None, f"{sid}: a severity chart without issues"
            continue
        charted += 1
        assert len(chart.select(".mark")) == nonzero, sid
    assert charted


def test_issue_matrix_equals_the_issues_table(rendered, analytics):
    for sid, doc in each_report(rendered):
        q = quality_row(analytics, sid)
        cells = dict(
            ((sev, st), n)
            for sev, st, n in analytics.execute(
                "SELECT severity, status, count(*) FROM issues WHERE submission_id = ? "
                "GROUP BY ALL",
                [sid],
            ).fetchall()
        )
        matrix = doc.select_one('table[data-table="matrix"]')
        if q["issue_count"] == 0:
            assert matrix is None and not cells
            continue
        shown = {}
        for row in matrix.select("tbody tr[data-severity]"):
            for cell in row.select("td[data-status]"):
                shown[(row["data-severity"], cell["data-status"])] = int(cell.get_text())
        assert {k: v for k, v in shown.items() if v} == cells, sid
        by_severity = {
            row["data-severity"]: int(row.select_one('[data-field="total"]').get_text())
            for row in matrix.select("tbody tr[data-severity]")
        }
        for severity, column in (("CRITICAL", "critical_count"), ("MAJOR", "major_count")):
            assert by_severity[severity] == q[column], sid
        footer = matrix.select_one("tfoot")
        assert int(footer.select_one('[data-field="total"]').get_text()) == q["issue_count"]
        assert int(footer.select_one('[data-status="OPEN"]').get_text()) == q["status_open"]
        assert (
            int(footer.select_one('[data-status="RESOLVED"]').get_text()) == (q["status_resolved"])
        )


def test_top_rule_codes_with_titles(rendered, analytics):
    for sid, doc in each_report(rendered):
        q = quality_row(analytics, sid)
        top = json.loads(q["top_rule_codes"])
        rows = doc.select('table[data-table="rules"] tbody tr')
        assert [r.select_one('[data-field="rule_code"]').get_text() for r in rows] == [
            t["rule_code"] for t in top
        ], sid
        for row in rows:
            code = row.select_one('[data-field="rule_code"]').get_text()
            titles = {
                t for (t,) in analytics.execute(
                    "SELECT DISTINCT rule_title FROM issues WHERE submission_id = ? "
                    "AND rule_code = ?",
                    [sid, code],
                ).fetchall()
            }  # fmt: skip
            assert row.select_one('[data-field="rule_title"]').get_text() in titles
            issues = scalar(
                analytics,
                "SELECT count(*) FROM issues WHERE submission_id = ? AND rule_code = ?",
                sid,
                code,
            )
            assert int(row.select_one('[data-field="issues"]').get_text()) == issues
        chart = doc.select_one("svg#chart-rules")
        assert (chart is None) == (not top)
        if chart is not None:
            assert len(chart.select("rect.mark")) == len(top)


def test_topics_with_their_issues_and_orphans(rendered, analytics):
    for sid, doc in each_report(rendered):
        members: dict[str, set[str]] = {}
        for topic_id, issue_id in analytics.execute(
            "SELECT t.topic_id, ti.issue_id FROM topics t "
            "LEFT JOIN topic_issues ti USING (topic_id) WHERE t.submission_id = ?",
            [sid],
        ).fetchall():
            members.setdefault(topic_id, set())
            if issue_id is not None:
                members[topic_id].add(issue_id)
        articles = doc.select("section#topics article[data-topic-id]")
        assert {a["data-topic-id"] for a in articles} == set(members), sid
        for article in articles:
            shown = {tr["data-issue-id"] for tr in article.select("tr[data-issue-id]")}
            assert shown == members[article["data-topic-id"]], sid
        orphans = {
            i for (i,) in analytics.execute(
                "SELECT issue_id FROM issues WHERE submission_id = ? "
                "AND issue_id NOT IN (SELECT issue_id FROM topic_issues)",
                [sid],
            ).fetchall()
        }  # fmt: skip
        shown = {tr["data-issue-id"] for tr in doc.select("section#orphans tr[data-issue-id]")}
        assert shown == orphans, sid
        assert len(orphans) == quality_row(analytics, sid)["orphan_count"]


def test_precedents_are_http_links_only(rendered, analytics):
    linked = 0
    for sid, doc in each_report(rendered):
        per_issue = dict(
            analytics.execute(
                "SELECT issue_id, count(*) FROM issue_precedents WHERE submission_id = ? "
                "GROUP BY issue_id",
                [sid],
            ).fetchall()
        )
        for row in doc.select("tr[data-issue-id]"):
            shown = row.select("li[data-precedent]")
            assert len(shown) == per_issue.get(row["data-issue-id"], 0), sid
        for link in doc.select("ul.precedents a"):
            assert HTTP_LINK.match(link["href"]), link["href"]
            assert "noopener" in link["rel"]
            linked += 1
    assert linked, "the sample cites no precedent: the link check proved nothing"


def test_failures_with_message_and_retryable_flag(rendered, analytics):
    shown_any = False
    for sid, doc in each_report(rendered):
        expected = {
            fid: (message, retryable, current)
            for fid, message, retryable, current in analytics.execute(
                "SELECT failure_id, error_message, is_retryable, is_current FROM asset_failures "
                "WHERE submission_id = ?",
                [sid],
            ).fetchall()
        }
        rows = doc.select('table[data-table="failures"] tbody tr')
        assert {r["data-failure-id"] for r in rows} == set(expected), sid
        for row in rows:
            message, retryable, current = expected[row["data-failure-id"]]
            assert row.select_one('[data-field="error_message"]').get_text() == (message or "—")
            flag = row.select_one('[data-field="retryable"]').get_text(" ", strip=True)
            if retryable is None and not current:
                assert flag == "yes (retried)"  # it was retried, so it was retryable
            else:
                assert flag == {True: "yes", False: "no", None: "unknown"}[retryable]
            assert row["data-current"] == ("true" if current else "false")
            shown_any = True
    assert shown_any, "the sample has no failure: build it with a failure rate"


def test_processing_timeline(rendered, analytics):
    for sid, doc in each_report(rendered):
        q = quality_row(analytics, sid)
        events = scalar(
            analytics,
            "SELECT count(*) FROM webhook_events WHERE submission_id = ? AND NOT is_test",
            sid,
        )
        steps = doc.select("section#timeline li[data-step]")
        kinds = [s["data-step"] for s in steps]
        assert kinds[0] == "created", sid
        assert sum(k.endswith("_event") for k in kinds) == events, sid
        assert ("completed" in kinds) == (q["completed_at"] is not None)
        times = [
            datetime.strptime(s.select_one(".when").get_text()[:19], "%Y-%m-%d %H:%M:%S")
            for s in steps
        ]
        assert times == sorted(times), sid


def test_pages_are_self_contained(rendered):
    for path in rendered.reports_dir.glob("*.html"):
        doc = page(path)
        assert doc.select("[src]") == [] and doc.select("link") == [], path.name
        csp = doc.select_one('meta[http-equiv="Content-Security-Policy"]')["content"]
        assert "default-src 'none'" in csp
        assert doc.style is not None and doc.style.get_text().strip()


def test_index_lists_every_submission_sortably(rendered, analytics):
    doc = page(rendered.reports_dir / "index.html")
    rows = {tr["data-submission-id"]: tr for tr in doc.select("table#submissions tbody tr")}
    assert set(rows) == set(rendered.submission_ids)
    table = doc.select_one("table#submissions")
    assert table.has_attr("data-sortable")
    keys = {
        th["data-key"]: i for i, th in enumerate(table.select("thead th")) if th.get("data-sort")
    }
    assert {"score", "verdict", "created"} <= set(keys)
    for sid, score, verdict, created in analytics.execute(
        "SELECT submission_id, score, verdict, created_at FROM submission_quality"
    ).fetchall():
        cells = rows[sid].find_all("td", recursive=False)
        assert cells[keys["score"]]["data-value"] == str(score)
        assert datetime.fromisoformat(cells[keys["created"]]["data-value"]) == created
        assert cells[keys["verdict"]].select_one("[data-verdict]")["data-verdict"] == verdict
        assert cells[keys["verdict"]]["data-value"].isdigit()
        link = rows[sid].select_one("a")
        assert link["href"] == f"{sid}.html" and (rendered.reports_dir / link["href"]).is_file()
    assert doc.select("script") and "data-sortable" in doc.select_one("script").get_text()


def test_daily_digest_has_one_row_per_day_and_workspace(rendered, analytics):
    doc = page(rendered.reports_dir / "daily.html")
    expected = {
        (day.isoformat(), ws): (subs, issues, open_issues, blocked)
        for day, ws, subs, issues, open_issues, blocked in analytics.execute(
            "SELECT day, workspace_id, submissions, issues, open_issues, verdict_blocked "
            "FROM daily_quality"
        ).fetchall()
    }
    assert expected, "daily_quality is empty in the sample"
    rows = doc.select('table[data-table="daily"] tbody tr[data-day][data-workspace]')
    assert len(rows) == len(expected)
    for row in rows:
        subs, issues, open_issues, blocked = expected[(row["data-day"], row["data-workspace"])]
        assert int(row.select_one('[data-field="submissions"]').get_text()) == subs
        assert int(row.select_one('[data-field="issues"]').get_text()) == issues
        assert int(row.select_one('[data-field="open_issues"]').get_text()) == open_issues
        verdicts = row.select_one('[data-field="verdicts"] [data-verdict="blocked"]').get_text()
        assert verdicts.startswith(f"{blocked} ")


def test_submission_without_data_gets_the_no_data_page(analytics, tmp_path):
    doc = page_from_text(render_submission_report(analytics, UNKNOWN_ID))
    assert doc.select_one("section#no-data") is not None
    assert doc.select_one('[data-field="submission_id"]').get_text() == UNKNOWN_ID
    assert doc.select_one("section#summary") is None
    # A batch writes no page for it (the pipeline records "pending" instead).
    assert write_submission_reports(analytics, [UNKNOWN_ID], tmp_path) == {}
    assert list(tmp_path.iterdir()) == []


def page_from_text(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


@pytest.mark.parametrize(
    "bad_id",
    ["../escape", "a/b", ".hidden", "index", "DAILY", "", "x" * 201, "id with space", "é"],
)
def test_ids_that_cannot_be_file_names_are_skipped(rendered, analytics, tmp_path, bad_id):
    good = rendered.submission_ids[0]
    written = write_submission_reports(analytics, [bad_id, good], tmp_path / "out")
    assert list(written) == [good]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{good}.html"]
    assert not (tmp_path / "escape.html").exists()


def test_writes_leave_no_temporary_files(rendered):
    leftovers = [p.name for p in rendered.reports_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_write_atomic_replaces_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "r.html"
    write_atomic(target, "old")
    write_atomic(target, "new")
    assert target.read_text() == "new"
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "half written \udc80")  # a lone surrogate cannot be UTF-8
    assert target.read_text() == "new", "a failed write must leave the old page intact"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]
