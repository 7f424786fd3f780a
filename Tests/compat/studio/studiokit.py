"""Helpers for the Studio suite: API keys, and a real browser (headless Chromium driven by
Selenium through chromedriver).

Nothing here downloads anything: the browser and its driver are the system's (Debian's
`chromium` and `chromium-driver`, which scripts/test.sh installs), passed to Selenium by path so
Selenium Manager never runs. Without them (or without the `selenium` package) the suite is
skipped with the reason from missing().

Studio is a server-rendered UI whose run page updates itself over server-sent events, so the
waits here poll the live DOM (WebDriverWait, never fixed sleeps) and tolerate elements that are
swapped out while they are read.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cairncompat import http_call  # noqa: E402

# The server's root key (`cairn serve --api-key`); it creates the tenants' keys.
ROOT = "studio-root-key-3f9c2a61"

# Every wait in the suite: the machine running it may be busy (CI builds beside it).
WAIT = 45.0

# The browser and driver: $CAIRN_STUDIO_CHROMIUM / $CAIRN_STUDIO_CHROMEDRIVER, else the first
# of these on PATH (Debian: /usr/bin/chromium, /usr/bin/chromedriver).
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVER_NAMES = ("chromedriver",)

CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",  # root in CI; the browser's own sandbox needs user namespaces it may lack
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-proxy-server",  # the server is on loopback
)


def make_key(server: Any, tenant: str, *scopes: str) -> str:
    """A new API key of `tenant` with `scopes` (POST /admin/keys with the root key); returns
    its secret."""
    r = http_call(server.url, "POST", "/admin/keys", {"tenant": tenant, "scopes": list(scopes)},
                  token=ROOT)
    assert r.status == 201, f"POST /admin/keys -> {r.status} {r.text[:500]}"
    secret = r.json["secret"]
    assert isinstance(secret, str) and secret, r.json
    return secret


# Installed in every document before its own scripts run (CDP), so a test can tell when the page
# has its server-sent-event stream open: every EventSource the page makes is remembered.
STREAM_PROBE = """
(() => {
  const Native = window.EventSource;
  if (!Native || Native.__cairnStudioProbe) return;
  const streams = [];
  class Probed extends Native {
    constructor(...args) { super(...args); streams.push(this); }
  }
  Probed.__cairnStudioProbe = true;
  window.EventSource = Probed;
  window.__cairnStudioStreams = streams;
})();
"""


def _which(env: str, names: tuple) -> Optional[str]:
    explicit = os.environ.get(env)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_path() -> Optional[str]:
    return _which("CAIRN_STUDIO_CHROMIUM", BROWSER_NAMES)


def driver_path() -> Optional[str]:
    return _which("CAIRN_STUDIO_CHROMEDRIVER", DRIVER_NAMES)


def missing() -> Optional[str]:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (Tests/compat/run.sh installs it)"
    if browser_path() is None:
        return ("no Chromium browser (apt-get install chromium, or set CAIRN_STUDIO_CHROMIUM); "
                "scripts/test.sh installs it when run as root")
    if driver_path() is None:
        return ("no chromedriver (apt-get install chromium-driver, or set "
                "CAIRN_STUDIO_CHROMEDRIVER); scripts/test.sh installs it when run as root")
    return None


def start_chrome() -> Any:
    """A new headless Chromium session (the caller quits it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.binary_location = browser_path()
    # The console (JavaScript errors of the page's live script) goes into a failure's report.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager (which would download a driver) never runs.
    service = Service(executable_path=driver_path())
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": STREAM_PROBE})
    return driver


class Browser:
    """One Chromium session for a test module, with the suite's waits and screenshots.

    shot(name) saves <dir>/<NN>-<name>.png; every page the tests visit is photographed.
    """

    def __init__(self, driver: Any, screenshots: Path):
        self.driver = driver
        self.screenshots = Path(screenshots)
        self.screenshots.mkdir(parents=True, exist_ok=True)
        self._shots = 0

    # -- pages --------------------------------------------------------------

    def get(self, url: str) -> None:
        self.driver.get(url)

    @property
    def url(self) -> str:
        return self.driver.current_url

    @property
    def path(self) -> str:
        return urlsplit(self.driver.current_url).path

    def shot(self, name: str) -> Path:
        self._shots += 1
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"
        target = self.screenshots / f"{self._shots:02d}-{safe}.png"
        self.driver.save_screenshot(str(target))
        return target

    def text(self) -> str:
        """The visible text of the page (for failure messages)."""
        try:
            return self.driver.find_element("css selector", "body").text
        except Exception as exc:  # mid-navigation
            return f"(no body: {exc!r})"

    def console(self) -> list:
        try:
            return self.driver.get_log("browser")
        except Exception:
            return []

    # -- elements -----------------------------------------------------------

    def css(self, selector: str, within: Any = None) -> Any:
        """The first element matching selector (raises NoSuchElementException)."""
        return (within or self.driver).find_element("css selector", selector)

    def all(self, selector: str, within: Any = None) -> list:
        return (within or self.driver).find_elements("css selector", selector)

    def present(self, selector: str) -> bool:
        return bool(self.all(selector))

    def read(self, fn: Callable[[], Any], timeout: float = WAIT) -> Any:
        """fn() (which finds elements and reads them), again if the live region was swapped
        between the finding and the reading (a stale element); any other error is raised."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        # WebDriverWait polls until a truthy answer: the result travels in a one-item tuple.
        return WebDriverWait(
            self.driver, timeout, poll_frequency=0.05,
            ignored_exceptions=(StaleElementReferenceException,),
        ).until(lambda _driver: (fn(),))[0]

    # -- waiting ------------------------------------------------------------

    def wait(self, condition: Callable[[], Any], desc: str, timeout: float = WAIT) -> Any:
        """Poll condition() until it returns something truthy, and return that. Elements that
        vanish or go stale between finding and reading them (a live swap, a navigation) count
        as not yet."""
        from selenium.common.exceptions import (
            JavascriptException,
            NoSuchElementException,
            StaleElementReferenceException,
            TimeoutException,
        )
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(
                self.driver, timeout, poll_frequency=0.1,
                ignored_exceptions=(NoSuchElementException, StaleElementReferenceException,
                                    JavascriptException),
            ).until(lambda _driver: condition())
        except TimeoutException:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {desc}\n"
                f"  at {self.url}\n  page text: {self.text()[:1500]!r}"
            ) from None

    def wait_css(self, selector: str, desc: Optional[str] = None, timeout: float = WAIT) -> Any:
        """Wait until selector matches; returns the first match."""
        return self.wait(lambda: self.css(selector), desc or f"{selector!r} to appear", timeout)

    def wait_path(self, path: str, selector: str = "body", timeout: float = WAIT) -> None:
        """Wait until the browser is on `path` (no query) with a loaded document that has
        selector."""
        def arrived() -> bool:
            return (self.path == path
                    and self.driver.execute_script("return document.readyState") == "complete"
                    and self.present(selector))

        self.wait(arrived, f"the browser to be on {path} showing {selector!r}", timeout)

    # -- telling a live update from a reload --------------------------------

    def mark(self) -> str:
        """Tag the current document (a window property); marked() is true until the browser
        loads another document, whatever the page's script swaps in meanwhile."""
        token = uuid.uuid4().hex
        self.driver.execute_script("window.__cairnStudioTestMark = arguments[0];", token)
        return token

    def marked(self, token: str) -> bool:
        return self.driver.execute_script("return window.__cairnStudioTestMark || null;") == token

    def streams_open(self) -> int:
        """How many of the document's EventSource streams are open (readyState OPEN)."""
        return self.driver.execute_script(
            "return (window.__cairnStudioStreams || []).filter(s => s.readyState === 1).length;")

    def wait_live(self, timeout: float = WAIT) -> None:
        """Wait until the page's live updates are connected: an EventSource it opened is open.
        Then nothing the server commits afterwards can be missed by the page."""
        self.wait(lambda: self.streams_open() > 0,
                  "the page to open its server-sent-event stream (an EventSource)", timeout)

    def wait_reloaded(self, token: str, selector: str = "body", timeout: float = WAIT) -> None:
        """Wait until the document tagged with `token` was replaced by a loaded one that has
        selector (a form post answered with a redirect back to the same address)."""
        def reloaded() -> bool:
            return (not self.marked(token)
                    and self.driver.execute_script("return document.readyState") == "complete"
                    and self.present(selector))

        self.wait(reloaded, f"the page to load again showing {selector!r}", timeout)


def timed_start() -> tuple:
    """(driver, seconds the start took)."""
    t0 = time.monotonic()
    driver = start_chrome()
    return driver, time.monotonic() - t0
