"""Screenshot the code location's asset graph in the Dagster UI (for docs/images/).

Starts ``dagster-webserver -w workspace.yaml`` on a free loopback port with a temporary
``DAGSTER_HOME`` (the repository's ``dagster.yaml``) and placeholder ``MMQ_*`` settings (the
graph needs no running simulator or receiver), opens the global asset lineage in headless
Chromium through selenium, waits until the graph's nodes are drawn, and saves a PNG.

``python bench/screenshot_dagster.py [--out docs/images/dagster-asset-graph.png]``
Needs ``chromium`` and ``chromedriver`` (``make browser-deps``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmq.netutil import free_port, wait_for_http  # noqa: E402

# The global asset lineage in Dagster 1.13 (``/asset-groups`` redirects to the same view).
DEFAULT_PATH = "/asset-groups"
# Asset names that must be drawn before the picture is worth taking.
EXPECTED_NODES = ("webhook_events", "api_responses", "submission_quality", "analytics_snapshot")


def start_webserver(port: int, home: Path, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "MMQ_DATA_DIR": str(home / "data"),
        "MMQ_API_BASE_URL": "http://127.0.0.1:9",
        "MMQ_RECEIVER_URL": "http://127.0.0.1:9",
    }
    webserver = shutil.which("dagster-webserver", path=str(Path(sys.executable).parent))
    process = subprocess.Popen(
        [webserver, "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=open(log_path, "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_http(f"http://127.0.0.1:{port}/server_info", timeout=180, process=process)
    return process


def screenshot(url: str, out: Path, width: int, height: int, timeout: float) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options
    )
    try:
        # The viewport itself (not the window) gets the requested size.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        driver.get(url)
        deadline = time.monotonic() + timeout
        expanded = False
        while True:
            text = driver.execute_script("return document.body ? document.body.innerText : ''")
            if all(name in text for name in EXPECTED_NODES):
                break
            if time.monotonic() > deadline:
                failed = out.with_suffix(".timeout.png")
                failed.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(failed))
                raise TimeoutError(
                    f"asset graph not rendered after {timeout:.0f}s at {url} (page saved to "
                    f"{failed}); page text: {text[:300]!r}"
                )
            if "Global asset lineage" in text and "warehouse" in text and not expanded:
                expanded = expand_groups(driver)
            time.sleep(1)
        time.sleep(3)  # let the layout settle and the edges animate in
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()


def expand_groups(driver) -> bool:
    """Dismiss the first-visit community dialog and expand every group (the UI draws
    groups collapsed when there are several)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.execute_script(
        "document.querySelectorAll('button').forEach(b => {"
        "  if (b.innerText.trim() === 'Skip') b.click(); })"
    )
    time.sleep(1)
    # The graph's own shortcut for "Expand all groups" (its settings menu shows ⌥E).
    body = driver.find_element("tag name", "body")
    ActionChains(driver).move_to_element(body).key_down(Keys.ALT).send_keys("e").key_up(
        Keys.ALT
    ).perform()
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs/images/dagster-asset-graph.png", help="PNG path"
    )
    parser.add_argument("--path", default=DEFAULT_PATH, help="UI route to capture")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for render")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="mmq-dagster-shot-"))
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    process = start_webserver(port, home, home / "webserver.log")
    try:
        screenshot(
            f"http://127.0.0.1:{port}{args.path}", args.out, args.width, args.height, args.timeout
        )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(home, ignore_errors=True)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
