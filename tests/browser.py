"""Headless Chromium for browser tests: Debian's ``chromium`` + ``chromium-driver`` driven by Selenium.

Nothing is downloaded: the driver path is given explicitly and Selenium Manager is kept offline.
Tests using :func:`chrome` are skipped when Selenium or the two binaries are missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("COLORMNET_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("COLORMNET_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"


def require_browser() -> None:
    pytest.importorskip("selenium")
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).is_file():
            pytest.skip(f"{binary} not found (apt-get install chromium chromium-driver)")


def chrome(download_dir: Path | None = None, size: tuple[int, int] = (1280, 1400)):
    """A headless Chromium WebDriver (caller quits it)."""
    require_browser()
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                f"--window-size={size[0]},{size[1]}"):
        options.add_argument(arg)
    if download_dir is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                                  "download.prompt_for_download": False})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


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
