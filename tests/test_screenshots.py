"""`make screenshots` redraws the README's pictures (docs/screenshots/) from scratch: the demo's
store read by the scripted server, the web app and the static site in the system Chromium.

Its own file: the enrichment runs an event loop, which cannot start while another module's
Playwright browser holds one."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.screenshots import enriched_demo, shoot

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent


def test_make_screenshots_draws_every_page_the_docs_show(tmp_path):
    drawn = shoot(enriched_demo(tmp_path / "demo"), tmp_path)
    assert sorted(p.name for p in drawn) == sorted(p.name for p in (ROOT / "docs" / "screenshots").glob("*.png"))
    assert all(p.stat().st_size > 10_000 for p in drawn)  # a page, not a blank
