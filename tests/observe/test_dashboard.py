"""The dashboard in a real headless browser: Debian's chromium, driven by selenium through
Debian's chromedriver (nothing downloads a browser)."""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest

from caxton.wasm import example_path
from tests.helpers import needs, wait_until

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = needs(
    CHROMIUM is not None and CHROMEDRIVER is not None,
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)")


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,900", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER or ""), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _agents_on_page(browser) -> set[str]:
    from selenium.webdriver.common.by import By

    return {row.get_attribute("data-agent")
            for row in browser.find_elements(By.CSS_SELECTOR, "#agents tbody tr[data-agent]")}


def _downs_of(browser, name: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [li.text for li in
            browser.find_elements(By.CSS_SELECTOR, f'#downs li[data-agent="{name}"]')]


@pytest.mark.timeout(120)
def test_dashboard_lists_agents_and_shows_a_kill_within_two_seconds(observed, oclient,
                                                                      browser):
    oclient.spawn("echo", example_path("echo"))
    oclient.spawn("counter", example_path("counter"))
    for _ in range(20):
        oclient.call("echo", b"hi")
    browser.get(f"http://{observed.http}/")
    wait_until(lambda: _agents_on_page(browser) == {"echo", "counter"}, timeout=15,
               what="both agents listed on the page")
    from selenium.webdriver.common.by import By

    row = browser.find_element(By.CSS_SELECTOR, '#agents tr[data-agent="echo"]').text
    assert "running" in row and "/ 16.0 MiB" in row
    tree = browser.find_element(By.ID, "tree").text
    assert "agent:echo" in tree and "agent:counter" in tree
    assert _downs_of(browser, "counter") == []

    pid = oclient.status("counter").pid
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    shown = wait_until(lambda: _downs_of(browser, "counter"), timeout=10,
                       what="the DOWN on the page")
    assert time.monotonic() - killed < 2.0
    assert "killed" in shown[0] and "restarting" in shown[0]
