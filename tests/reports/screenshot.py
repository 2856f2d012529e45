"""Page screenshots with headless Chromium, for test artifacts and the README image.

``python -m tests.reports.screenshot docs/images/report-submission.png`` builds the sample
warehouse (simulator → receiver → warehouse), renders its reports and saves a 1280-wide shot of
the richest submission report (a failed asset, topics, most assets), top of the page.
"""

from __future__ import annotations

import argparse
import base64
import math
import sys
import tempfile
from pathlib import Path

import duckdb
from selenium import webdriver

from tests.reports.browser import headless_chromium

RICHEST_SQL = """
SELECT submission_id FROM submission_quality
WHERE issue_count > 0
ORDER BY assets_failed > 0 DESC, topic_count > 0 DESC, asset_count DESC, issue_count DESC,
         submission_id
LIMIT 1
"""


def save(driver: webdriver.Chrome, path: Path, *, width: int = 1280, height: int | None = None):
    """The page laid out ``width`` CSS pixels wide: all of it, or its top ``height`` pixels.

    Through the DevTools protocol rather than by resizing the window: a headless window's
    viewport is smaller than the window by an amount that varies between versions.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        content = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        full = math.ceil(content["height"])
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": width,
                    "height": min(height or full, full),
                    "scale": 1,
                },
            },
        )
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def richest_submission(analytics_path: Path) -> str:
    conn = duckdb.connect(str(analytics_path), read_only=True)
    try:
        return conn.execute(RICHEST_SQL).fetchone()[0]
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="PNG file to write")
    parser.add_argument("--height", type=int, default=1700, help="CSS pixels from the top")
    args = parser.parse_args(argv)
    from tests.reports.conftest import write_all
    from tests.sample import build_sample

    with tempfile.TemporaryDirectory(prefix="mmq-screenshot-") as tmp:
        sample = build_sample(Path(tmp) / "sample")
        reports = Path(tmp) / "reports"
        write_all(sample.analytics_path, reports)
        sid = richest_submission(sample.analytics_path)
        with headless_chromium() as driver:
            driver.get((reports / f"{sid}.html").as_uri())
            save(driver, args.output, height=args.height)
    print(f"wrote {args.output} (submission {sid})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
