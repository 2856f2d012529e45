"""Hostile strings from the API, injected into a copy of the sample warehouse, stay text.

Each payload is checked in the section that really shows that field (per the templates), as
the exact text a reader sees; and every page is checked for what an escaping bug would create:
script elements, event-handler attributes, stray SVG elements, non-http links.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from mmq.reports.render import environment
from tests.reports.conftest import load, page, write_all

SCRIPT = "<script>document.title='pwned'</script>"
BREAKOUT = "\"><svg onload=document.title='pwned'>"
JS_URL = "javascript:alert(document.domain)"
# Browsers ignore tabs and leading blanks in a scheme: this is javascript: too.
JS_URL_OBFUSCATED = " java\tscript:alert(1)"
BAD_ID = f"../{SCRIPT}"


def hostile(field: str) -> str:
    return f"{field}{BREAKOUT}{SCRIPT}"


@dataclass
class Injected:
    reports_dir: Path
    submission_id: str
    asset_id: str
    issue_id: str  # an issue shown in the page (topic or orphan table)
    topic_id: str
    failure_id: str
    precedent_issue_id: str
    workspace_id: str
    failed_events: int  # webhook events of the failure's asset that report the failure


def _one(conn, sql, *params):
    row = conn.execute(sql, list(params)).fetchone()
    assert row is not None, sql
    return row


@pytest.fixture(scope="module")
def injected(sample_warehouse, tmp_path_factory) -> Injected:
    work = tmp_path_factory.mktemp("hostile")
    analytics = work / "analytics.duckdb"
    shutil.copyfile(sample_warehouse.analytics_path, analytics)
    conn = duckdb.connect(str(analytics))
    try:
        # A submission with topics and issues, with a failure if any has one.
        (sid,) = _one(
            conn,
            "SELECT q.submission_id FROM submission_quality q "
            "WHERE q.topic_count > 0 AND q.issue_count > 0 "
            "ORDER BY (SELECT count(*) FROM asset_failures f "
            "WHERE f.submission_id = q.submission_id) DESC, q.issue_count DESC LIMIT 1",
        )
        if not _one(conn, "SELECT count(*) FROM asset_failures WHERE submission_id = ?", sid)[0]:
            # None of those failed in this sample run: give it one, copied from a real failure.
            conn.execute(
                "INSERT INTO asset_failures SELECT * REPLACE ('injected-failure' AS failure_id, "
                "$sid AS submission_id, "
                "(SELECT min(asset_id) FROM assets WHERE submission_id = $sid) AS asset_id) "
                "FROM asset_failures LIMIT 1",
                {"sid": sid},
            )
        failure_id, asset_id = _one(
            conn,
            "SELECT failure_id, asset_id FROM asset_failures WHERE submission_id = ? LIMIT 1",
            sid,
        )
        (failed_events,) = _one(
            conn,
            "SELECT count(*) FROM webhook_events WHERE asset_id = ? AND status = 'failed'",
            asset_id,
        )
        topic_id, issue_id = _one(
            conn,
            "SELECT topic_id, issue_id FROM topic_issues WHERE submission_id = ? "
            "ORDER BY topic_id, list_idx LIMIT 1",
            sid,
        )
        prec_issue, prec_idx = _one(
            conn,
            "SELECT issue_id, min(list_idx) FROM issue_precedents WHERE submission_id = ? "
            "GROUP BY issue_id HAVING count(*) >= 2 ORDER BY issue_id LIMIT 1",
            sid,
        )
        workspace = hostile("ws")
        conn.execute(
            "UPDATE assets SET filename = ? WHERE asset_id = ?", [hostile("file"), asset_id]
        )
        conn.execute(
            "UPDATE webhook_events SET filename = ?, error_message = ? WHERE asset_id = ?",
            [hostile("file"), hostile("event-error"), asset_id],
        )
        conn.execute(
            "UPDATE asset_failures SET error_message = ? WHERE failure_id = ?",
            [hostile("failure"), failure_id],
        )
        conn.execute(
            "UPDATE issues SET summary = ?, rule_title = ?, severity_reasoning_headline = ? "
            "WHERE issue_id = ?",
            [hostile("summary"), hostile("rule-title"), hostile("headline"), issue_id],
        )
        conn.execute(
            "UPDATE topics SET title = ?, summary = ? WHERE topic_id = ?",
            [hostile("topic"), hostile("topic-summary"), topic_id],
        )
        conn.execute(
            "UPDATE issue_precedents SET url = ?, title = ? WHERE issue_id = ? AND list_idx = ?",
            [JS_URL, hostile("precedent"), prec_issue, prec_idx],
        )
        conn.execute(
            "UPDATE issue_precedents SET url = ? WHERE issue_id = ? AND list_idx = ?",
            [JS_URL_OBFUSCATED, prec_issue, prec_idx + 1],
        )
        conn.execute("UPDATE submissions SET error_message = ? WHERE submission_id = ?",
                     [hostile("submission-error"), sid])  # fmt: skip
        (top,) = _one(
            conn, "SELECT top_rule_codes FROM submission_quality WHERE submission_id = ?", sid
        )
        rules = json.loads(top)
        rules[0].update(rule_code=hostile("code"), rule_title=hostile("top-title"))
        conn.execute(
            "UPDATE submission_quality SET top_rule_codes = ?, workspace_id = ? "
            "WHERE submission_id = ?",
            [json.dumps(rules), workspace, sid],
        )
        conn.execute("UPDATE daily_quality SET workspace_id = ?", [workspace])
        # A submission whose id is hostile and no file name: listed in the index, no page.
        conn.execute(
            "INSERT INTO submission_quality SELECT * REPLACE (? AS submission_id) "
            "FROM submission_quality WHERE submission_id = ?",
            [BAD_ID, sid],
        )
    finally:
        conn.close()
    reports_dir = work / "reports"
    written = write_all(analytics, reports_dir)
    assert BAD_ID not in written and sid in written
    return Injected(
        reports_dir,
        sid,
        asset_id,
        issue_id,
        topic_id,
        failure_id,
        prec_issue,
        workspace,
        failed_events,
    )


def assert_nothing_live(path: Path, scripts: int = 0) -> None:
    """What an escaping bug would create, checked on the parsed page."""
    raw = path.read_text(encoding="utf-8")
    assert SCRIPT not in raw and BREAKOUT not in raw, path.name
    doc = page(path)
    found = doc.find_all("script")
    assert len(found) == scripts, path.name
    for script in found:  # only the bundled sort script, byte for byte
        assert script.get_text() == str(environment().globals["sort_script"])
    for element in doc.find_all(True):
        handlers = [name for name in element.attrs if name.lower().startswith("on")]
        assert handlers == [], f"{path.name}: <{element.name} {handlers}>"
    for svg in doc.find_all("svg"):
        assert "chart" in svg.get("class", []), f"{path.name}: a stray <svg>"
        assert svg.find_parent("svg") is None
    for link in doc.find_all("a", href=True):
        href = link["href"]
        assert href.startswith(("http://", "https://")) or (
            href.endswith(".html") and ":" not in href and "/" not in href
        ), f"{path.name}: live link {href!r}"


def test_no_page_has_live_markup(injected):
    assert_nothing_live(injected.reports_dir / f"{injected.submission_id}.html")
    assert_nothing_live(injected.reports_dir / "index.html", scripts=1)
    assert_nothing_live(injected.reports_dir / "daily.html")
    pages = sorted(p.name for p in injected.reports_dir.iterdir())
    assert all(name.endswith(".html") and "/" not in name for name in pages)
    assert not any(name.startswith(".") for name in pages), "temporary files left"


def test_submission_page_shows_each_payload_as_text(injected):
    doc = page(injected.reports_dir / f"{injected.submission_id}.html")
    text = lambda node: node.get_text()  # noqa: E731

    asset_row = doc.select_one(
        f'table[data-table="assets"] tr[data-asset-id="{injected.asset_id}"]'
    )
    assert text(asset_row.select_one('[data-field="filename"]')) == hostile("file")
    # The severity chart clips long labels but keeps the full name in the label's tooltip.
    chart = doc.select_one("svg#chart-severity")
    assert hostile("file") in [t.get_text() for t in chart.select("g.row > text > title")]

    failure = doc.select_one(f'tr[data-failure-id="{injected.failure_id}"]')
    assert text(failure.select_one('[data-field="error_message"]')) == hostile("failure")
    assert text(failure.select_one("td.file")) == hostile("file")

    topic = doc.select_one(f'article[data-topic-id="{injected.topic_id}"]')
    assert text(topic.select_one('[data-field="title"]')) == hostile("topic")
    assert text(topic.select_one('[data-field="summary"]')) == hostile("topic-summary")

    issue = topic.select_one(f'tr[data-issue-id="{injected.issue_id}"]')
    assert text(issue.select_one('[data-field="summary"]')) == hostile("summary")
    assert text(issue.select_one(".why")) == hostile("headline")
    assert hostile("rule-title") in [text(d) for d in issue.select("div.small.muted")]

    # The precedent with a javascript: URL is text (title and URL), never a link.
    rows = doc.select(f'tr[data-issue-id="{injected.precedent_issue_id}"]')
    assert rows
    for row in rows:
        items = row.select("li[data-precedent]")
        unsafe = items[0].select_one(".unsafe-url")
        assert items[0].find("a") is None and items[1].find("a") is None
        assert text(unsafe) == f"{hostile('precedent')} ({JS_URL})"
        assert JS_URL_OBFUSCATED in text(items[1].select_one(".unsafe-url"))

    rules = doc.select('table[data-table="rules"] tbody tr')
    assert text(rules[0].select_one('[data-field="rule_code"]')) == hostile("code")
    assert text(rules[0].select_one('[data-field="rule_title"]')) == hostile("top-title")
    rule_chart = doc.select_one("svg#chart-rules")
    assert hostile("code") in rule_chart.select_one("desc").get_text()

    assert text(doc.select_one('[data-field="submission-error"]')).endswith(
        hostile("submission-error")
    )
    assert hostile("ws") in [text(s) for s in doc.select("section#summary .meta .mono")]

    timeline = doc.select_one("section#timeline")
    assert hostile("file") in [text(s) for s in timeline.select("span.file")]
    failed = [
        s for s in timeline.select('li[data-step="failed_event"]') if hostile("file") in text(s)
    ]
    assert len(failed) == injected.failed_events
    assert all(text(s).strip().endswith(f"— {hostile('event-error')}") for s in failed)


def test_index_lists_the_hostile_id_without_a_link(injected):
    doc = page(injected.reports_dir / "index.html")
    row = next(
        tr for tr in doc.select("table#submissions tbody tr") if tr["data-submission-id"] == BAD_ID
    )
    cell = row.select_one('[data-field="submission_id"]')
    assert cell.find("a") is None, "an id that is no file name must not be linked"
    assert row.find("script") is None
    assert cell.select_one("span")["title"] == BAD_ID
    assert not (injected.reports_dir.parent / f"{SCRIPT}.html").exists()


def test_daily_digest_shows_the_workspace_as_text(injected):
    doc = page(injected.reports_dir / "daily.html")
    rows = doc.select('table[data-table="daily"] tr[data-workspace]')
    assert rows
    for row in rows:
        assert row["data-workspace"] == injected.workspace_id
        assert row.select_one('[data-field="workspace"]').get_text() == injected.workspace_id


def test_hostile_pages_run_nothing_in_chromium(injected, driver):
    for name in (f"{injected.submission_id}.html", "index.html", "daily.html"):
        assert load(driver, injected.reports_dir / name) == [], name
        assert "pwned" not in driver.title, f"{name}: a payload ran"
        assert (
            driver.execute_script("return document.querySelectorAll('svg:not(.chart)').length") == 0
        )
