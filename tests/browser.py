"""Finding a headless Chromium (and its chromedriver) for the tests that open pages in a real
browser, in one place.

* :func:`chromium_path` / :func:`chromedriver_path`: the executable, or None. ``$BARENET_CHROMIUM``
  / ``$BARENET_CHROMEDRIVER`` name it explicitly; otherwise the first of :data:`CHROMIUM_NAMES`
  / ``chromedriver`` found on ``PATH``.
* :func:`require` (and the ``chromium`` / ``chromedriver`` fixtures, registered in conftest.py):
  the path, or, when it is missing, a skip whose reason says how to enable the test. With
  ``BARENET_REQUIRE_BROWSER=1`` (which ``.ci/run`` sets) a missing browser fails instead, so CI
  cannot pass by skipping.
* :func:`headless_command`: the Chromium command line the tests start from (headless, no
  network, a throw-away profile).

A test that needs the browser also carries ``@pytest.mark.slow``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REQUIRE_ENV = "BARENET_REQUIRE_BROWSER"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = ("install it (Debian: apt-get install chromium chromium-driver, as .ci/run does) "
                "or point $BARENET_CHROMIUM / $BARENET_CHROMEDRIVER at it")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars")


def _find(env_var: str, names: tuple[str, ...]) -> str | None:
    given = os.environ.get(env_var)
    if given:
        return given if Path(given).is_file() and os.access(given, os.X_OK) else None
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_path() -> str | None:
    """The Chromium executable ($BARENET_CHROMIUM, else chromium & co. on PATH), or None."""
    return _find("BARENET_CHROMIUM", CHROMIUM_NAMES)


def chromedriver_path() -> str | None:
    """The chromedriver executable for Selenium ($BARENET_CHROMEDRIVER, else on PATH), or None."""
    return _find("BARENET_CHROMEDRIVER", ("chromedriver",))


def browser_required() -> bool:
    """Whether a missing browser is a failure (``BARENET_REQUIRE_BROWSER`` set and not 0)."""
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0")


def require(what: str = "chromium") -> str:
    """The path of ``"chromium"`` or ``"chromedriver"``; skips (or fails, when required) if absent."""
    path = {"chromium": chromium_path, "chromedriver": chromedriver_path}[what]()
    if path is not None:
        return path
    if browser_required():
        pytest.fail(f"{what} is required ({REQUIRE_ENV} is set) but was not found; {INSTALL_HINT}")
    pytest.skip(f"{what} not found: {INSTALL_HINT} to run this browser test "
                f"(set {REQUIRE_ENV}=1 to make a missing browser fail)")


def headless_command(chromium: str, profile: Path) -> list[str]:
    """The start of a headless Chromium command line with a throw-away profile directory."""
    return [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]


@pytest.fixture
def chromium() -> str:
    """The Chromium executable (see :func:`require`)."""
    return require("chromium")


@pytest.fixture
def chromedriver() -> str:
    """The chromedriver executable (see :func:`require`)."""
    return require("chromedriver")
