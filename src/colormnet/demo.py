"""The bundled demo: a short grayscale clip and its colour exemplar, colourised with the released weights.

The media (package data under ``colormnet/data``, made by ``tools/make_demo_clip.py`` from
scikit-image's CC0 ``coffee`` photograph) let a newcomer try the whole pipeline without files of
their own: ``colormnet demo``.
"""

from __future__ import annotations

import os
import shlex
import sys
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_OUTPUT = "colormnet_demo.mp4"


def demo_media() -> tuple[Path, Path]:
    """Paths of the bundled grayscale clip and of the colour version of its frame 0."""
    folder = resources.files("colormnet") / "data"
    return Path(str(folder / "demo_clip.mp4")), Path(str(folder / "demo_exemplar.jpg"))


def run_demo(output: str | Path = DEFAULT_OUTPUT, **options: Any) -> Path:
    """Colorize the bundled clip into ``output``; ``options`` go to :func:`colormnet.api.colorize_video`."""
    from colormnet.api import colorize_video

    clip, exemplar = demo_media()
    return colorize_video(clip, [f"{exemplar}@0"], output, **options)


def open_command(path: str | Path) -> str:
    """The shell command that opens ``path`` with the desktop's default player."""
    if sys.platform == "win32":
        return f'start "" "{path}"'
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    return f"{opener} {shlex.quote(os.fspath(path))}"
