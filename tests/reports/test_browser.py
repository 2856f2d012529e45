"""The report pages in a real browser: headless Chromium loads them from file://.

No console errors (a CSP violation or a script error is logged at SEVERE), every SVG chart laid
out with its marks, and the index sorts when a column heading is clicked. Screenshots are kept
under the pytest tmp dir, and their paths printed (``pytest -s`` shows them).

Chromium missing is a skip only on a developer's machine; under CI or ``make test`` (which
installs it with ``make browser-deps``) it is a failure, since a skipped browser test proves
nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from mmq.reports import render_submission_report
from mmq.reports.write import write_atomic
from tests.reports.conftest import load, page, read_only
from tests.reports.screenshot import richest_submission, save

CHART_LAYOUT_JS = """
return Array.from(document.querySelectorAll('svg.chart')).map(function (svg) {
  var box = svg.getBoundingClientRect();
  return {
    id: svg.id, width: box.width, height: box.height,
    marks: Array.from(svg.querySelectorAll('.mark')).map(function (mark) {
      var b = mark.getBoundingClientRect();
      return {tag: mark.tagName.toLowerCase(), width: b.width, height: b.height};
    })
  };
});
"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def keep(driver: webdriver.Chrome, shots: Path, name: str) -> Path:
    path = save(driver, shots / name)
    assert path.stat().st_size > 10_000, "a blank screenshot"
    print(f"screenshot: {path}")
    return path


def assert_charts_drawn(driver: webdriver.Chrome, source: Path) -> int:
    charts = driver.execute_script(CHART_LAYOUT_JS)
    expected = len(page(source).select("svg.chart"))
    assert len(charts) == expected, "the browser parsed a different number of charts"
    for chart in charts:
        where = f"{source.name} #{chart['id']}"
        assert chart["width"] > 0 and chart["height"] > 0, f"{where} has no size"
        assert chart["marks"], f"{where} has no marks"
        for mark in chart["marks"]:
            if mark["tag"] in ("rect", "circle"):
                assert mark["width"] > 0 and mark["height"] > 0, f"{where}: empty {mark}"
        assert any(m["width"] > 0 for m in chart["marks"]), f"{where}: no visible mark"
    return len(charts)


def test_console_check_sees_errors(driver, tmp_path):
    """The console check below can fail: a page with a script error is seen as one."""
    broken = tmp_path / "broken.html"
    broken.write_text("<!doctype html><title>x</title><script>notDefined();</script>")
    errors = load(driver, broken)
    assert any("notDefined" in e["message"] for e in errors), errors


def test_submission_report_in_chromium(driver, shots, rendered):
    sid = richest_submission(rendered.analytics_path)
    source = rendered.reports_dir / f"{sid}.html"
    assert load(driver, source) == []
    assert driver.title.endswith("MediaMagic quality") and sid in driver.title
    drawn = assert_charts_drawn(driver, source)
    ids = {e.get_attribute("id") for e in driver.find_elements(By.CSS_SELECTOR, "svg.chart")}
    assert {"chart-score", "chart-severity", "chart-rules"} <= ids, ids
    assert drawn >= 3
    keep(driver, shots, "report-submission.png")


def test_every_submission_report_loads_cleanly(driver, rendered):
    for sid in rendered.submission_ids:
        source = rendered.reports_dir / f"{sid}.html"
        assert load(driver, source) == [], sid
        assert_charts_drawn(driver, source)


def test_no_data_page_in_chromium(driver, rendered, tmp_path):
    with read_only(rendered.analytics_path) as conn:
        html = render_submission_report(conn, "00000000-0000-4000-8000-000000000000")
    source = write_atomic(tmp_path / "no-data.html", html)
    assert load(driver, source) == []
    assert driver.find_element(By.CSS_SELECTOR, "section#no-data h1").text == "No data yet"


def test_daily_digest_in_chromium(driver, shots, rendered):
    source = rendered.reports_dir / "daily.html"
    assert load(driver, source) == []
    assert assert_charts_drawn(driver, source) >= 1
    keep(driver, shots, "report-daily.png")


def column_values(driver: webdriver.Chrome, key: str) -> list[str]:
    return driver.execute_script(
        """
        var key = arguments[0];
        var table = document.getElementById('submissions');
        var heads = Array.from(table.tHead.rows[0].cells);
        var column = heads.findIndex(function (th) { return th.dataset.key === key; });
        return Array.from(table.tBodies[0].rows).map(function (row) {
          return row.cells[column].getAttribute('data-value');
        });
        """,
        key,
    )


def click_heading(driver: webdriver.Chrome, key: str) -> str:
    heading = driver.find_element(By.CSS_SELECTOR, f'th[data-key="{key}"]')
    heading.find_element(By.CSS_SELECTOR, "button.sort").click()
    return heading.get_attribute("aria-sort")


def numbers(values: list[str]) -> list[float]:
    return [float(v) for v in values if v not in (None, "")]


def test_index_in_chromium_sorts_by_clicking_headings(driver, shots, rendered):
    source = rendered.reports_dir / "index.html"
    assert load(driver, source) == []
    assert assert_charts_drawn(driver, source) >= 2
    rows = driver.find_elements(By.CSS_SELECTOR, "table#submissions tbody tr")
    assert len(rows) == len(rendered.submission_ids)

    created = column_values(driver, "created")
    assert created == sorted(created, reverse=True), "the index starts newest first"

    assert click_heading(driver, "score") == "ascending"
    scores = numbers(column_values(driver, "score"))
    assert len(scores) == len(rendered.submission_ids)
    assert scores == sorted(scores) and scores[0] < scores[-1], scores
    assert click_heading(driver, "score") == "descending"
    assert numbers(column_values(driver, "score")) == sorted(scores, reverse=True)
    assert (
        driver.find_element(By.CSS_SELECTOR, 'th[data-key="created"]').get_attribute("aria-sort")
        == "none"
    )

    assert click_heading(driver, "verdict") == "ascending"
    verdicts = numbers(column_values(driver, "verdict"))
    assert verdicts == sorted(verdicts)
    badges = [
        e.get_attribute("data-verdict")
        for e in driver.find_elements(By.CSS_SELECTOR, "table#submissions tbody [data-verdict]")
    ]
    order = ["blocked", "needs_review", "clear"]
    assert [order.index(b) for b in badges] == sorted(order.index(b) for b in badges)
    keep(driver, shots, "report-index.png")
