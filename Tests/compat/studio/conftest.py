"""Fixtures for the Studio suite: a real browser (headless Chromium through Selenium) against a
fresh `cairn serve` with a root key.

The tests are skipped, with the reason, when Chromium, chromedriver or the selenium package are
missing (studiokit.missing()). Screenshots of every page the tests visit go to
$CAIRN_STUDIO_SCREENSHOTS, else to <pytest's tmp dir>/screenshots*; the directory is printed at
the end of the run. A failed test also leaves the page it failed on (.png and .html) there and
the browser's console in its report.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import studiokit
from cairncompat import start_server

_screenshot_dirs: list = []


@pytest.fixture(scope="session")
def studio_screenshots(tmp_path_factory) -> Path:
    configured = os.environ.get("CAIRN_STUDIO_SCREENSHOTS")
    if configured:
        path = Path(configured).resolve()
        path.mkdir(parents=True, exist_ok=True)
    else:
        path = tmp_path_factory.mktemp("screenshots")
    _screenshot_dirs.append(path)
    print(f"\nstudio screenshots: {path}")
    return path


@pytest.fixture(scope="module")
def browser(studio_screenshots):
    reason = studiokit.missing()
    if reason:
        pytest.skip(reason)
    driver, seconds = studiokit.timed_start()
    print(f"\nchromium {driver.capabilities.get('browserVersion')} started in {seconds:.1f}s")
    try:
        yield studiokit.Browser(driver, studio_screenshots)
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory):
    """A fresh server with a root key and an S3 listener (workspaces), for this module."""
    srv = start_server(tmp_path_factory, "studio", s3=True, api_key=studiokit.ROOT)
    yield srv
    srv.stop()


def pytest_terminal_summary(terminalreporter):
    for path in _screenshot_dirs:
        terminalreporter.write_line(f"studio screenshots: {path}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed or call.when != "call":
        return
    browser = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if not isinstance(browser, studiokit.Browser):
        return
    lines = [f"url: {browser.url}"]
    try:
        png = browser.shot(f"FAILED-{item.name}")
        html = png.with_suffix(".html")
        html.write_text(browser.driver.page_source, "utf-8")
        lines += [f"screenshot: {png}", f"page source: {html}"]
    except Exception as exc:  # the browser itself may be what broke
        lines.append(f"(no screenshot: {exc!r})")
    console = browser.console()
    lines.append("browser console:" if console else "browser console: (empty)")
    lines += [f"  {entry.get('level')} {entry.get('message')}" for entry in console[-50:]]
    report.sections.append(("studio browser", "\n".join(lines)))
