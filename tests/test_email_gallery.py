"""docs/emails/, the gallery of every kind of email (scripts/email_gallery.py): it matches the
templates as they are, and every email renders in real Chromium at 600 px without overflowing."""

from __future__ import annotations

import importlib.util
import struct

import pytest

from wheels_core.kinds import KINDS
from tests.chromium import CHROMIUM, Chromium
from wheels_jobs.embedded import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs" / "emails"
_spec = importlib.util.spec_from_file_location("email_gallery", PROJECT_ROOT / "scripts" / "email_gallery.py")
gallery = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gallery)


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", data[16:24])


def test_the_committed_gallery_shows_every_kind_as_the_templates_render_it(tmp_path):
    rendered = gallery.write(tmp_path, None)
    assert set(rendered) == set(KINDS)
    stale = [f"{kind}.{ext}" for kind in KINDS for ext in ("html", "txt")
             if (DOCS / f"{kind}.{ext}").read_text(encoding="utf-8") != (tmp_path / f"{kind}.{ext}").read_text(encoding="utf-8")]
    assert stale == [], f"docs/emails is stale ({', '.join(stale)}): run .venv/bin/python scripts/email_gallery.py"
    assert (DOCS / "README.md").read_text(encoding="utf-8") == (tmp_path / "README.md").read_text(encoding="utf-8")
    for kind in KINDS:
        assert png_size((DOCS / f"{kind}.png").read_bytes())[0] == gallery.WIDTH_PX
    # What a reviewer looks for: amounts in the user's currency, the preferences link, the success panel.
    assert "A$412.50" in rendered["budget_warning"].text and "82.5%" in rendered["budget_warning"].subject
    assert "https://wheels.example/preferences?token=" in rendered["welcome"].html
    assert "Success since activation" in rendered["daily_report"].text


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium); scripts/setup.sh installs it")
def test_every_email_renders_600_px_wide_in_chromium(tmp_path):
    gallery.write(tmp_path, None)
    browser = Chromium(tmp_path / "chromium-profile")
    try:
        browser.call("Emulation.setScriptExecutionDisabled", page=True, value=True)
        browser.call("Emulation.setScrollbarsHidden", page=True, hidden=True)
        for domain in ("Page", "Log", "Runtime"):
            browser.call(f"{domain}.enable", page=True)
        for kind in KINDS:
            shot = gallery.screenshot(browser, tmp_path / f"{kind}.html")
            width = browser.call("Page.getLayoutMetrics", page=True)["cssContentSize"]["width"]
            assert width <= gallery.WIDTH_PX, f"{kind} is {width} px wide"
            assert png_size(shot)[0] == gallery.WIDTH_PX and png_size(shot)[1] > 300, kind
        problems = browser.events("Log.entryAdded") + browser.events("Runtime.exceptionThrown")
    finally:
        browser.close()
    assert [p for p in problems if p.get("entry", {}).get("level", "error") == "error"] == []
