"""Build the demo clip bundled with the package (``colormnet demo``).

How it was made (run from the repository root, with the dev environment)::

    python tools/make_demo_clip.py            # writes src/colormnet/data/demo_clip.mp4 + demo_exemplar.jpg

Source: scikit-image's ``coffee`` photograph (``skimage.data.coffee()``, 600x400; "No copyright
restrictions. CC0 by the photographer (Rachel Michetti)", per its docstring). A virtual camera
moves slowly over it: the crop window (3:2) zooms in from 540x360 to 420x280 pixels while drifting
right and down, eased at both ends, resampled with Lanczos at sub-pixel positions to 384x256.
Each frame is reduced to its luma (PIL "L") and encoded as H.264 (yuv420p, CRF 20, 24 fps, 48
frames, 2 s, no audio). The exemplar is the colour version of frame 0 (the same crop, in colour),
saved as JPEG quality 92: ``colormnet demo`` passes it as ``demo_exemplar.jpg@0``.

The output is deterministic for a given Pillow/FFmpeg build; the files are small (< 300 KB together).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image

from colormnet.io.video import VideoInfo, VideoWriter

SIZE = (384, 256)
FRAMES = 48
FPS = 24
CRF = 20
OUT = Path(__file__).resolve().parents[1] / "src" / "colormnet" / "data"


def crop_box(t: float, width: int, height: int) -> tuple[float, float, float, float]:
    """Crop window (x0, y0, x1, y1) at time t in [0, 1]: eased zoom-in with a right/down drift."""
    s = 0.5 - 0.5 * math.cos(math.pi * t)  # ease in/out
    w = 540 + (420 - 540) * s
    h = w * SIZE[1] / SIZE[0]
    cx = width * (0.47 + 0.08 * s)
    cy = height * (0.50 + 0.06 * s)
    x0 = min(max(cx - w / 2, 0.0), width - w)
    y0 = min(max(cy - h / 2, 0.0), height - h)
    return x0, y0, x0 + w, y0 + h


def frames(photo: Image.Image) -> list[Image.Image]:
    """The colour frames of the camera move (PIL RGB, ``SIZE``)."""
    return [photo.resize(SIZE, Image.Resampling.LANCZOS, box=crop_box(i / (FRAMES - 1), *photo.size))
            for i in range(FRAMES)]


def main() -> None:
    from skimage import data

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    colour = frames(Image.fromarray(data.coffee()))
    colour[0].save(args.out / "demo_exemplar.jpg", quality=92)
    info = VideoInfo.for_size(*SIZE, FPS)
    with VideoWriter(args.out / "demo_clip.mp4", info, crf=CRF, overwrite=True) as writer:
        for frame in colour:
            gray = np.asarray(frame.convert("L"))
            writer.write(np.repeat(gray[:, :, None], 3, axis=2))
    for name in ("demo_clip.mp4", "demo_exemplar.jpg"):
        print(f"{args.out / name}: {(args.out / name).stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
