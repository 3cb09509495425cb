"""Headless Chromium for browser tests: Debian's ``chromium`` + ``chromium-driver`` driven by Selenium.

The one place that finds the browser and starts it (tests use the ``browser`` fixture of
``tests/conftest.py``; the docs' screenshot scripts call :func:`chrome`). Nothing is downloaded: the
driver path is given explicitly and Selenium Manager is kept offline. Without Selenium or the two
binaries the tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

CHROMIUM = (os.environ.get("COLORMNET_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
            or "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("COLORMNET_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"


def browser_missing() -> str | None:
    """Why no browser test can run here (Selenium or a binary missing), or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).is_file():
            return f"{binary} not found (apt-get install chromium chromium-driver)"
    return None


def require_browser() -> None:
    """Skip the calling test when :func:`browser_missing` says why."""
    reason = browser_missing()
    if reason:
        pytest.skip(reason)


def chrome(download_dir: Path | None = None, size: tuple[int, int] = (1280, 1400), profile: Path | None = None,
           extra_args: Sequence[str] = ()):
    """A headless Chromium WebDriver (the caller quits it). Videos autoplay muted; ``profile`` is the
    user-data folder (default: a temporary one of Chromium's)."""
    require_browser()
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    args = ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--mute-audio",
            "--autoplay-policy=no-user-gesture-required", f"--window-size={size[0]},{size[1]}", *extra_args]
    if profile is not None:
        args.append(f"--user-data-dir={profile}")
    for arg in args:
        options.add_argument(arg)
    if download_dir is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                                  "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    return driver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.25):
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def wait_for_quietly(condition: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``condition`` for up to ``timeout`` s; whether it became truthy (no failure)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(interval)
    return True
