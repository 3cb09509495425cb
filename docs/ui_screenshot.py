"""Make docs/ui.png: the web app after a run of the bundled demo clip, in headless Chromium, with the tiny
test model (random weights; no trained weights are bundled), the confidence video asked for and the films
options open.

    python docs/ui_screenshot.py     # needs gradio, chromium, chromium-driver, selenium
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import chrome, free_port, wait_for  # noqa: E402

from colormnet.demo import demo_media  # noqa: E402


def main() -> None:
    from selenium.webdriver.common.by import By

    work = Path(tempfile.mkdtemp())
    port = free_port()
    env = {**os.environ, "TMPDIR": str(work), "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    log = work / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "colormnet", "ui", "--port", str(port), "--device", "cpu",
                                   "--model-factory", "colormnet.testing.models:tiny_model"],
                                  stdout=out, stderr=subprocess.STDOUT, env=env)
    driver = None
    try:
        wait_for(lambda: "serving on" in log.read_text(), 300, "the server")
        driver = chrome(size=(1100, 1300), extra_args=["--hide-scrollbars"])
        driver.get(f"http://127.0.0.1:{port}")
        wait_for(lambda: driver.find_elements(By.ID, "run"), 120, "the page")
        clip, exemplar = demo_media()
        for elem_id, path in (("input-video", clip), ("exemplars", exemplar)):
            driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=file]").send_keys(str(path))
            wait_for(lambda e=elem_id, p=path: p.stem in driver.find_element(By.ID, e).text, 60, "the upload")
        driver.find_element(By.CSS_SELECTOR, "#films-options button").click()
        box = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#confidence input[type=checkbox]"), 30,
                       "the films options")[0]
        driver.execute_script("arguments[0].click()", box)
        driver.find_element(By.ID, "run").click()
        wait_for(lambda: driver.find_element(By.ID, "status").text.startswith(("Done", "Error")), 600, "the run")
        assert driver.find_element(By.ID, "status").text.startswith("Done"), driver.find_element(By.ID, "status").text
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#result-extras a[href]")) == 3, 60, "downloads")
        driver.execute_script("document.querySelectorAll('video').forEach(v => {v.pause(); v.currentTime = 1.0;})")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1100, height + 200)  # the whole page, from the title to the downloads
        driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(1.5)
        png = work / "shot.png"
        driver.save_screenshot(str(png))
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(60)
    out = ROOT / "docs" / "ui.png"
    Image.open(png).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(out, out.stat().st_size, "bytes")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
