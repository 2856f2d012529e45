"""The report pages of the shared sample warehouse, written once per session, and page helpers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from bs4 import BeautifulSoup
from selenium import webdriver

from mmq.reports import write_daily_digest, write_index, write_submission_reports
from tests.reports.browser import BrowserMissing, find_binaries, headless_chromium


@dataclass
class RenderedReports:
    reports_dir: Path
    analytics_path: Path
    submission_ids: list[str]  # every submission_quality row, each with its page
    written: dict[str, Path]


@contextmanager
def read_only(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        yield conn
    finally:
        conn.close()


def write_all(analytics_path: Path, reports_dir: Path) -> dict[str, Path]:
    """What the pipeline's report assets write: every submission, the index, the digest."""
    with read_only(analytics_path) as conn:
        ids = [
            r[0] for r in conn.execute("SELECT submission_id FROM submission_quality").fetchall()
        ]
        written = write_submission_reports(conn, ids, reports_dir)
        write_index(conn, reports_dir)
        write_daily_digest(conn, reports_dir)
    return written


def page(path: Path) -> BeautifulSoup:
    return BeautifulSoup(Path(path).read_text(encoding="utf-8"), "html.parser")


@pytest.fixture(scope="session")
def rendered(sample_warehouse, tmp_path_factory) -> RenderedReports:
    reports_dir = tmp_path_factory.mktemp("reports")
    written = write_all(sample_warehouse.analytics_path, reports_dir)
    with read_only(sample_warehouse.analytics_path) as conn:
        ids = [
            r[0] for r in conn.execute("SELECT submission_id FROM submission_quality").fetchall()
        ]
    return RenderedReports(reports_dir, sample_warehouse.analytics_path, ids, written)


@pytest.fixture
def analytics(rendered) -> Iterator[duckdb.DuckDBPyConnection]:
    with read_only(rendered.analytics_path) as conn:
        yield conn


def must_have_browser() -> None:
    """Skip without Chromium on a developer's machine; fail under CI or `make test`."""
    try:
        find_binaries()
    except BrowserMissing as exc:
        if os.environ.get("CI") or os.environ.get("MAKELEVEL"):
            pytest.fail(f"{exc} (required under CI and `make test`)")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def driver() -> Iterator[webdriver.Chrome]:
    must_have_browser()
    with headless_chromium() as chromium:
        yield chromium


def load(driver: webdriver.Chrome, path: Path) -> list[dict]:
    """Open the page from file:// and return its SEVERE console entries."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(path.as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
