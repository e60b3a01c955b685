"""The written report opened in headless Chromium: no console errors, every image decodes, and a
full-page screenshot is saved (to ``$CALSCOPE_ARTIFACTS`` when set, else the test's tmp_path)."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
except ImportError:  # pragma: no cover - depends on the environment
    webdriver = None

pytestmark = pytest.mark.skipif(
    webdriver is None or CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless Chromium not installed: apt-get install chromium chromium-driver")

CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1280,900")


@pytest.fixture
def browser(tmp_path: Path):
    """A headless Chromium driven through the system chromedriver (never Selenium Manager)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _full_page_png(driver) -> bytes:
    """A screenshot of the whole page, not just the window (Chrome DevTools protocol)."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    return base64.b64decode(shot["data"])


def test_report_loads_cleanly_in_chromium(browser, written_report, tmp_path: Path) -> None:
    out, _ = written_report
    browser.get((out / "report.html").as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map("
        "img => [img.complete, img.naturalWidth, img.naturalHeight, img.alt]);")
    assert len(images) == 7
    for complete, width, height, alt in images:
        assert complete and width > 0 and height > 0, alt
        assert alt
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
    artifacts = Path(os.environ.get("CALSCOPE_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    screenshot = artifacts / "report.png"
    screenshot.write_bytes(_full_page_png(browser))
    assert screenshot.stat().st_size > 10_000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
