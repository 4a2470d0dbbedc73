"""tests/browser.py: a missing browser skips the browser tests on a fresh machine, with a reason
saying how to enable them, and fails them where BARENET_REQUIRE_BROWSER is set (.ci/run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import browser


@pytest.fixture
def no_browser(tmp_path, monkeypatch) -> Path:
    """A PATH holding no browser, and no BARENET_CHROMIUM / BARENET_CHROMEDRIVER."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BARENET_CHROMIUM", raising=False)
    monkeypatch.delenv("BARENET_CHROMEDRIVER", raising=False)
    return tmp_path


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("what", ["chromium", "chromedriver"])
def test_missing_browser_skips_with_how_to_enable(no_browser, monkeypatch, what):
    monkeypatch.delenv(browser.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        browser.require(what)
    reason = str(info.value)
    assert what in reason and "apt-get install chromium chromium-driver" in reason
    assert f"{browser.REQUIRE_ENV}=1" in reason


@pytest.mark.parametrize("value", ["1", "yes"])
def test_missing_browser_fails_where_required(no_browser, monkeypatch, value):
    monkeypatch.setenv(browser.REQUIRE_ENV, value)
    with pytest.raises(pytest.fail.Exception, match="chromium is required"):
        browser.require("chromium")


def test_zero_means_not_required(no_browser, monkeypatch):
    monkeypatch.setenv(browser.REQUIRE_ENV, "0")
    with pytest.raises(pytest.skip.Exception):
        browser.require("chromium")


def test_found_on_path_or_named_by_the_environment(no_browser, monkeypatch):
    fake = _executable(no_browser / "chromium-browser")
    assert browser.chromium_path() == str(fake)
    assert browser.require("chromium") == str(fake)
    other = _executable(no_browser / "elsewhere")
    monkeypatch.setenv("BARENET_CHROMIUM", str(other))
    assert browser.chromium_path() == str(other)
    monkeypatch.setenv("BARENET_CHROMIUM", str(no_browser / "absent"))
    assert browser.chromium_path() is None
    driver = _executable(no_browser / "chromedriver")
    assert browser.chromedriver_path() == str(driver)


def test_headless_command_uses_a_throw_away_profile(tmp_path):
    command = browser.headless_command("/bin/chromium", tmp_path / "p")
    assert command[0] == "/bin/chromium" and "--headless" in command
    assert f"--user-data-dir={tmp_path / 'p'}" in command


def test_ci_requires_the_browser_and_installs_the_driver():
    script = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert f"export {browser.REQUIRE_ENV}=1" in script
    assert "chromium-driver" in script
    assert os.access(Path(__file__).resolve().parents[1] / ".ci" / "run", os.X_OK)
