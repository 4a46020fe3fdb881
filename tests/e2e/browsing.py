"""What the browser tests share: Debian's Chromium driven by playwright, and signing in."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Flags for a container without a sandbox, GPU or network (stack notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery"
"""Every browser test account's password."""


def require_browser() -> ModuleType:
    """playwright's sync API; skips the calling test module, saying why, when Chromium or
    playwright is missing. Call at module level."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install -y chromium)",
            allow_module_level=True,
        )
    return pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")


def log_in(page: Any, base: str, username: str) -> None:
    """Sign in as `username`, starting from a page that needs a login."""
    page.goto(f"{base}/lists")
    assert "/login" in page.url  # a page needs a login first
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/lists")
