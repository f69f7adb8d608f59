"""The HTML report in Debian's real headless Chromium (Selenium + chromium-driver): it loads
with no console message and no network request, and its tables hold the exact divergences."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tdxray.ingest.materialize import trace_file_for
from tdxray.report.page import report_html
from tdxray.tests.test_html_report import expected_rows

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


def _browser():  # type: ignore[no-untyped-def]
    missing = [p for p in (CHROMIUM, DRIVER) if not shutil.which(p)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip, the dev extra)")
    if missing:
        if os.environ.get("CI") == "1":
            pytest.fail(f"CI: missing {', '.join(missing)}")
        pytest.skip(f"install {', '.join(missing)} (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,2400",
                "--disable-background-networking", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def test_the_report_loads_offline_clean_and_exact(kernel_pair: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    unfixed, fixed = kernel_pair
    page = tmp_path / "report.html"
    page.write_text(report_html([*trace_file_for(str(unfixed)), *trace_file_for(str(fixed))]))
    driver = _browser()
    try:
        driver.get(page.as_uri())
        assert driver.find_element(By.ID, "verdict").text == "FAIL"
        tables = driver.find_elements(By.CSS_SELECTOR, "table.divergences")
        assert len(tables) == 1  # the fixed kernel has none above info
        rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                for tr in tables[0].find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert [(r[0], r[1], r[3], r[5].replace("\n", " ")) for r in rows] == \
            expected_rows(unfixed)
        assert len(driver.find_elements(By.TAG_NAME, "svg")) == 8
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        console = driver.get_log("browser")
        requests = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
    finally:
        driver.quit()
    assert console == []
    urls = {m["params"]["request"]["url"] for m in requests
            if m["method"] == "Network.requestWillBeSent"}
    assert urls == {page.as_uri()}
