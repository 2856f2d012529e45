"""Headless Chromium driven by Selenium, for the report tests and the README screenshots.

Uses the Debian ``chromium`` and ``chromium-driver`` packages (``make browser-deps``); a missing
binary is an error, not a skip, because CI installs them and a skipped browser test proves nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_CANDIDATES = ("chromedriver",)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


class BrowserMissing(RuntimeError):
    pass


def find_binaries() -> tuple[str, str]:
    browser = next((p for p in map(shutil.which, CHROMIUM_CANDIDATES) if p), None)
    driver = next((p for p in map(shutil.which, DRIVER_CANDIDATES) if p), None)
    if browser is None or driver is None:
        missing = " and ".join(
            name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path
        )
        raise BrowserMissing(
            f"{missing} not found on PATH: run `make browser-deps` (installs the Debian packages "
            "chromium and chromium-driver) before the browser tests"
        )
    return browser, driver


@contextmanager
def headless_chromium(width: int = 1280, height: int = 1000) -> Iterator[webdriver.Chrome]:
    browser, driver_path = find_binaries()
    with tempfile.TemporaryDirectory(prefix="mmq-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={width},{height}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            yield driver
        finally:
            driver.quit()
