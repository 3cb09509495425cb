"""`colormnet ui` in a real headless Chromium: upload, run (recipe weights), progress, preview, download,
cancel, a bad exemplar's message, and no files left behind. Screenshots go to $COLORMNET_SCREENSHOTS (default:
the test's tmp folder)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from colormnet.io.video import probe
from tests.browser import chrome, free_port, require_browser, wait_for
from tests.media import gray_frame

pytestmark = pytest.mark.slow
FRAMES = 12


def make_clip_with_audio(path: Path, n: int = FRAMES, w: int = 64, h: int = 48, fps: int = 8) -> Path:
    """Gray H.264 frames plus an AAC tone, in MP4."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = c.add_stream("aac", rate=16000)
        a.layout = "mono"
        for i in range(n):
            g = gray_frame(i, w, h)
            f = av.VideoFrame.from_ndarray(np.dstack([g, g, g]), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in v.encode(f):
                c.mux(p)
        t = np.arange(int(16000 * n / fps)) / 16000
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for i in range(0, len(tone), 1024):
            f = av.AudioFrame.from_ndarray(tone[None, i:i + 1024], format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, i
            for p in a.encode(f):
                c.mux(p)
        for s in (v, a):
            for p in s.encode(None):
                c.mux(p)
    return path


@pytest.fixture()
def server(tmp_path):
    """`colormnet ui` in a subprocess with the recipe weights; yields (url, its temp dir, process)."""
    pytest.importorskip("gradio")
    require_browser()
    port = free_port()
    tmp = tmp_path / "server_tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_TEMP_DIR", None)
    log = open(tmp_path / "server.log", "w+")  # noqa: SIM115 (read back below)
    proc = subprocess.Popen([sys.executable, "-m", "colormnet", "ui", "--port", str(port), "--device", "cpu",
                             "--model-factory", "colormnet.testing.models:recipe_model"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {(tmp_path / 'server.log').read_text()}")
        return "serving on" in (tmp_path / "server.log").read_text()

    try:
        wait_for(ready, 300, "the server to start")
        yield f"http://127.0.0.1:{port}", tmp, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(60)
        log.close()


def _upload(driver, elem_id: str, *paths: Path) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=file]")
    field.send_keys("\n".join(str(p) for p in paths))
    for p in paths:
        wait_for(lambda p=p: p.stem in driver.find_element(By.ID, elem_id).text, 60, f"{p.name} to upload")


def _status(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "status").text


def test_ui_end_to_end(server, tmp_path):
    from selenium.webdriver.common.by import By

    url, server_tmp, proc = server
    shots = Path(os.environ.get("COLORMNET_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    clip = make_clip_with_audio(tmp_path / "street.mp4")
    good = tmp_path / "street_colour.png"
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 190, 110, 60
    Image.fromarray(rgb).save(good)
    bad = tmp_path / "broken_exemplar.png"
    bad.write_bytes(b"this is not a PNG")

    driver = chrome()
    try:
        driver.get(url)
        wait_for(lambda: driver.find_elements(By.ID, "run"), 120, "the page")
        assert "CC BY-NC-SA 4.0" in driver.find_element(By.ID, "licence").text

        # a bad exemplar: the CLI's message, naming the file
        _upload(driver, "input-video", clip)
        _upload(driver, "exemplars", bad)
        driver.find_element(By.ID, "run").click()
        wait_for(lambda: _status(driver).startswith("Error:"), 120, "the error message")
        assert "broken_exemplar.png" in _status(driver) and "server_tmp" not in _status(driver)
        driver.save_screenshot(str(shots / "ui_bad_exemplar.png"))

        # a fresh page (new session): the good run
        driver.get(url)
        wait_for(lambda: driver.find_elements(By.ID, "run"), 120, "the page")
        _upload(driver, "input-video", clip)
        _upload(driver, "exemplars", good)
        driver.find_element(By.ID, "run").click()
        statuses: list[str] = []

        def progressed():
            statuses.append(_status(driver))
            return "Frame " in statuses[-1] and driver.find_elements(By.CSS_SELECTOR, "#preview img")

        wait_for(progressed, 300, "progress and a preview", interval=0.1)
        driver.save_screenshot(str(shots / "ui_running.png"))
        wait_for(lambda: statuses.append(_status(driver)) or statuses[-1].startswith(("Done", "Error")), 600,
                 "the run to finish", interval=0.2)
        assert statuses[-1].startswith(f"Done: {FRAMES} frames"), statuses[-1]
        assert any("frames/s" in s and "left" in s for s in statuses), statuses
        link = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#result-file a[href]"), 60,
                        "the download link")[0]
        driver.execute_script("arguments[0].scrollIntoView()", link)
        driver.save_screenshot(str(shots / "ui_done.png"))
        out = tmp_path / "downloaded.mp4"
        with urllib.request.urlopen(link.get_attribute("href"), timeout=60) as response:
            out.write_bytes(response.read())
        info = probe(out)
        assert (info.num_frames, info.width, info.height, info.has_audio) == (FRAMES, 64, 48, True)
        with av.open(str(out)) as c:
            frame0 = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        assert frame0[..., 0].mean() > frame0[..., 2].mean() + 30  # coloured like the orange exemplar

        def session_files() -> list[Path]:
            """Files under the server's temp dir; the server may be deleting folders while we walk."""
            found = []
            for folder, _, names in os.walk(server_tmp):  # os.walk skips folders that vanish
                found += [Path(folder) / n for n in names]
            return found

        assert any(p.name == "street_colorized.mp4" for p in session_files())

        # run again, on a clip long enough that it cannot finish before the click lands, and cancel:
        # the page says so and no result is left
        # (a fresh page: leaving the old one deletes that session's result)
        driver.get(url)
        wait_for(lambda: not any(p.name == "street_colorized.mp4" for p in session_files()), 60,
                 "the closed session's result to be deleted")
        wait_for(lambda: driver.find_elements(By.ID, "run"), 120, "the page")
        _upload(driver, "input-video", make_clip_with_audio(tmp_path / "long.mp4", n=400))
        _upload(driver, "exemplars", good)
        driver.find_element(By.ID, "run").click()
        wait_for(lambda: _status(driver).startswith("Frame "), 300, "the second run to progress", interval=0.1)
        driver.find_element(By.ID, "cancel").click()
        wait_for(lambda: _status(driver).startswith("Cancelled after"), 120, "the cancel", interval=0.1)
        driver.save_screenshot(str(shots / "ui_cancelled.png"))
        assert not any(p.suffix == ".mp4" and "colorized" in p.name for p in session_files())

        # closing the tab deletes the session's files (uploads included) while the server runs
        driver.get("about:blank")
        wait_for(lambda: not [p for p in session_files() if p.suffix in (".mp4", ".png", ".jpg")], 60,
                 "the session's files to be deleted")
    finally:
        driver.quit()
    proc.terminate()
    assert proc.wait(60) == 0
    assert not list(server_tmp.glob("colormnet-ui-*"))  # the server's whole temp root is gone
