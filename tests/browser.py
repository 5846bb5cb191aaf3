"""Headless Chromium for tests: Debian's /usr/bin/chromium driven by Playwright (never a
downloaded browser). Tests that need it skip when it is missing, except in CI."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]


def chromium_or_skip():
    """A Playwright sync handle and a launched browser; skips (or fails in CI) when unavailable."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("playwright not installed")
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            raise RuntimeError("chromium is not installed; .ci/run installs it with apt")
        pytest.skip("chromium not installed (apt-get install chromium)")
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    return pw, browser
