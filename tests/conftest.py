"""Shared test fixtures. Parity fixtures come from $COLORMNET_FIXTURES (default ../shared/fixtures)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def fixtures_root() -> Path:
    return Path(os.environ.get("COLORMNET_FIXTURES", REPO.parent / "shared" / "fixtures")).resolve()


def fixtures_required() -> bool:
    """On CI (env ``CI`` set to anything but empty/0/false) missing parity fixtures fail the run."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_fixtures(reason: str) -> None:
    """Skip the current test for missing fixtures, or fail it when :func:`fixtures_required`."""
    if fixtures_required():
        pytest.fail(f"{reason}; CI is set, so the parity and state-dict tests must run "
                    "(provide the fixtures or set COLORMNET_FIXTURES)", pytrace=False)
    pytest.skip(reason)


def require_fixtures_root(*files: str) -> Path:
    """The fixture directory; skips the test (fails it on CI) when it or one of ``files`` is absent."""
    root = fixtures_root()
    if not root.is_dir():
        missing_fixtures(f"parity fixtures not found at {root} (set COLORMNET_FIXTURES)")
    for name in files:
        if not (root / name).is_file():
            missing_fixtures(f"{root} has no {name}")
    return root


@pytest.fixture(scope="session")
def recipe_model():
    """The full-size network filled with the fixtures' deterministic recipe weights (eval mode, CPU)."""
    from colormnet.models import build_model

    return build_model("recipe")


@pytest.fixture(scope="session")
def tiny_model():
    """A small random-initialised network with the full structure (eval mode, CPU)."""
    from colormnet.models import build_model

    return build_model("tiny", seed=0)


@pytest.fixture()
def browser(tmp_path):
    """Headless Chromium (Debian's chromium + chromium-driver via Selenium; see tests/browser.py), quit after
    the test; skipped when Selenium or the binaries are missing."""
    from tests.browser import chrome

    driver = chrome(profile=tmp_path / "chrome-profile")
    yield driver
    driver.quit()
