"""Headless Chromium for tests: Debian's /usr/bin/chromium driven by Playwright (never a
downloaded browser). Tests that need it skip when it or Playwright is missing, except under
`make test` (which installs Chromium and sets ODINPAINT_REQUIRE_BROWSER=1) and in CI, where
a missing browser is a failure."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]


def browser_required() -> bool:
    """True under `make test` and in CI: the browser tests must run there, never skip."""
    return os.environ.get("ODINPAINT_REQUIRE_BROWSER", "") not in ("", "0") or bool(os.environ.get("CI"))


def chromium_or_skip():
    """A Playwright sync handle and a launched browser; skips when unavailable, or fails when
    the browser is required (see browser_required)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if browser_required():
            pytest.fail("playwright is not installed: `make venv` installs it (the [test] extra)")
        pytest.skip("playwright not installed")
    if not os.path.exists(CHROMIUM):
        if browser_required():
            pytest.fail("chromium is not installed: `make chromium` installs Debian's package with apt-get")
        pytest.skip("chromium not installed (apt-get install chromium)")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    except Exception:
        pw.stop()
        raise
    return pw, browser
