"""`colormnet ui` in a real headless Chromium: upload, run (recipe weights), progress, preview, download,
the confidence video and CSV, scene cuts reported on a spliced real clip, cancel, a bad exemplar's message,
and no files left behind. Screenshots go to $COLORMNET_SCREENSHOTS (default:
the test's tmp folder)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from colormnet.io.video import probe
from tests.browser import free_port, require_browser, wait_for, wait_for_quietly
from tests.film_media import BIKES, BUNNY, spliced
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


def make_gray_video(path: Path, frames: list[np.ndarray], fps: int = 24) -> Path:
    """The lightness of RGB frames as a near-lossless H.264 MP4 (what a black-and-white film upload is)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.codec_context.options = {"crf": "4", "preset": "ultrafast"}
        for i, rgb in enumerate(frames):
            g = np.asarray(Image.fromarray(rgb).convert("L"))
            f = av.VideoFrame.from_ndarray(np.dstack([g, g, g]), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode(None):
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


def _run(driver) -> None:
    """Press Colorize (a script click: an accordion still unfolding must not move the button under a
    mouse click) and wait until the page has taken the job."""
    from selenium.webdriver.common.by import By

    driver.execute_script("arguments[0].click()", driver.find_element(By.ID, "run"))
    wait_for(lambda: not _status(driver).startswith("Upload a video"), 120, "the page to take the job")


def _films_options(driver, scene_cuts: str | None = None, confidence: bool = False) -> None:
    """Open the films accordion, pick a scene-cut mode, tick the confidence box."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "#films-options button").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#confidence input[type=checkbox]"), 30,
             "the films options")
    if scene_cuts is not None:
        _select(driver, f"#scene-cuts input[type=radio][value='{scene_cuts}']", f"scene cuts {scene_cuts!r}")
    if confidence:
        _select(driver, "#confidence input[type=checkbox]", "the confidence box")


def _select(driver, css: str, what: str) -> None:
    """Pick a radio button / tick a checkbox (script click) until the page shows it selected: a click
    that lands while Gradio is still rendering the opened accordion can be lost (seen once in CI)."""
    from selenium.webdriver.common.by import By

    def selected() -> bool:
        if driver.find_element(By.CSS_SELECTOR, css).is_selected():
            return True
        driver.execute_script("arguments[0].click()", driver.find_element(By.CSS_SELECTOR, css))
        return wait_for_quietly(lambda: driver.find_element(By.CSS_SELECTOR, css).is_selected(), 2.0)

    wait_for(selected, 30, what)
    assert driver.find_element(By.CSS_SELECTOR, css).is_selected()


def _download(link, path: Path) -> Path:
    with urllib.request.urlopen(link.get_attribute("href"), timeout=60) as response:
        path.write_bytes(response.read())
    return path


def _extras(driver) -> dict[str, object]:
    """The run's extra downloads (report, confidence video and CSV) by file name."""
    from selenium.webdriver.common.by import By

    links = driver.find_elements(By.CSS_SELECTOR, "#result-extras a[href]")
    return {Path(urllib.parse.urlparse(a.get_attribute("href")).path).name: a for a in links}


def test_ui_end_to_end(server, browser, tmp_path):
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

    driver = browser
    driver.get(url)
    wait_for(lambda: driver.find_elements(By.ID, "run"), 120, "the page")
    assert "CC BY-NC-SA 4.0" in driver.find_element(By.ID, "licence").text

    # a bad exemplar: the CLI's message, naming the file
    _upload(driver, "input-video", clip)
    _upload(driver, "exemplars", bad)
    _run(driver)
    wait_for(lambda: _status(driver).startswith("Error:"), 120, "the error message")
    assert "broken_exemplar.png" in _status(driver) and "server_tmp" not in _status(driver)
    driver.save_screenshot(str(shots / "ui_bad_exemplar.png"))

    # a fresh page (new session): the good run
    driver.get(url)
    wait_for(lambda: driver.find_elements(By.ID, "run"), 120, "the page")
    _upload(driver, "input-video", clip)
    _upload(driver, "exemplars", good)
    _films_options(driver, confidence=True)
    _run(driver)
    statuses: list[str] = []

    def progressed():
        statuses.append(_status(driver))
        return "Frame " in statuses[-1] and driver.find_elements(By.CSS_SELECTOR, "#preview img")

    try:
        wait_for(progressed, 300, "progress and a preview", interval=0.1)
    except AssertionError as err:
        raise AssertionError(f"{err}; last statuses: {statuses[-3:]}") from None
    driver.save_screenshot(str(shots / "ui_running.png"))
    wait_for(lambda: statuses.append(_status(driver)) or statuses[-1].startswith(("Done", "Error")), 600,
             "the run to finish", interval=0.2)
    assert statuses[-1].startswith(f"Done: {FRAMES} frames"), statuses[-1]
    assert any("frames/s" in s and "left" in s for s in statuses), statuses
    link = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#result-file a[href]"), 60,
                    "the download link")[0]
    driver.execute_script("arguments[0].scrollIntoView()", link)
    driver.save_screenshot(str(shots / "ui_done.png"))
    out = _download(link, tmp_path / "downloaded.mp4")
    info = probe(out)
    assert (info.num_frames, info.width, info.height, info.has_audio) == (FRAMES, 64, 48, True)
    with av.open(str(out)) as c:
        frame0 = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert frame0[..., 0].mean() > frame0[..., 2].mean() + 30  # coloured like the orange exemplar
    # confidence on: its video (one gray frame per frame, white on the exemplar's frame 0) and CSV
    extras = wait_for(lambda: len(_extras(driver)) == 3 and _extras(driver), 60, "the three extra downloads")
    assert sorted(extras) == ["street_colorized.report.json", "street_colorized_confidence.csv",
                              "street_colorized_confidence.mp4"]
    conf = _download(extras["street_colorized_confidence.mp4"], tmp_path / "confidence.mp4")
    info = probe(conf)
    assert (info.num_frames, info.width, info.height) == (FRAMES, 64, 48)
    with av.open(str(conf)) as c:
        conf0 = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert conf0.min() > 240  # confidence 1 on the exemplar's frame
    rows = list(csv.DictReader(_download(extras["street_colorized_confidence.csv"],
                                         tmp_path / "confidence.csv").open()))
    assert [int(r["frame"]) for r in rows] == list(range(FRAMES)) and rows[0]["mean_confidence"] == "1.0000"
    assert "Scene cuts: none found." in _status(driver)  # 12 frames: shorter than the shortest shot

    def session_files() -> list[Path]:
        """Files under the server's temp dir; the server may be deleting folders while we walk."""
        found = []
        for folder, _, names in os.walk(server_tmp):  # os.walk skips folders that vanish
            found += [Path(folder) / n for n in names]
        return found

    assert any(p.name == "street_colorized.mp4" for p in session_files())

    # scene cuts: a real clip spliced from two films, 'reset' mode; the page names the cut
    if BIKES is not None and BUNNY is not None:
        film, cut = spliced(20, 20, 64, 48)
        driver.get(url)
        wait_for(lambda: driver.find_elements(By.ID, "run"), 120, "the page")
        _upload(driver, "input-video", make_gray_video(tmp_path / "film.mp4", film))
        first = tmp_path / "film_frame0.png"
        Image.fromarray(film[0]).save(first)
        _upload(driver, "exemplars", first)
        _films_options(driver, scene_cuts="reset")
        _run(driver)
        wait_for(lambda: _status(driver).startswith(("Done", "Error")), 600, "the film run to finish")
        status = _status(driver)
        assert status.startswith(f"Done: {len(film)} frames"), status
        assert f"Scene cuts at frame {cut} (memory reset there)" in status, status
        extras = wait_for(lambda: _extras(driver), 60, "the report download")
        assert sorted(extras) == ["film_colorized.report.json"]  # confidence off: no confidence files
        report = json.loads(_download(extras["film_colorized.report.json"], tmp_path / "r.json").read_text())
        assert report["scene_cuts"] == [cut] and report["scene_cut_mode"] == "reset"
        assert ("would benefit from an exemplar" in status) == bool(report["would_benefit_from_exemplar"])
        driver.save_screenshot(str(shots / "ui_scene_cuts.png"))

    # run again, on a clip long enough that it cannot finish before the click lands, and cancel:
    # the page says so and no result is left
    # (a fresh page: leaving the old one deletes that session's result)
    driver.get(url)
    wait_for(lambda: not any(p.name.startswith("street_colorized") for p in session_files()), 60,
             "the closed session's result, report and confidence files to be deleted")
    wait_for(lambda: driver.find_elements(By.ID, "run"), 120, "the page")
    _upload(driver, "input-video", make_clip_with_audio(tmp_path / "long.mp4", n=400))
    _upload(driver, "exemplars", good)
    _run(driver)
    wait_for(lambda: _status(driver).startswith("Frame "), 300, "the second run to progress", interval=0.1)
    driver.find_element(By.ID, "cancel").click()
    wait_for(lambda: _status(driver).startswith("Cancelled after"), 120, "the cancel", interval=0.1)
    driver.save_screenshot(str(shots / "ui_cancelled.png"))
    assert not any(p.suffix == ".mp4" and "colorized" in p.name for p in session_files())

    # closing the tab deletes the session's files (uploads included) while the server runs
    driver.get("about:blank")
    wait_for(lambda: not [p for p in session_files() if p.suffix in (".mp4", ".png", ".jpg", ".csv", ".json")], 60,
             "the session's files to be deleted")
    proc.terminate()
    assert proc.wait(60) == 0
    assert not list(server_tmp.glob("colormnet-ui-*"))  # the server's whole temp root is gone
