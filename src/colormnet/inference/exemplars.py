"""Exemplars: colour images that steer the colorization.

* keyframe exemplar ``IMAGE@N``: the colour version of frame N; injected when the stream reaches it.
* free reference ``IMAGE``: any colour picture of the scene (the authors' "exemplar is not the
  first frame" mode); added to memory before the first frame.

All of them sit in permanent memory, which consolidation and eviction never touch.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from colormnet.errors import InputError
from colormnet.io.frames import IMAGE_EXTENSIONS, natural_key
from colormnet.io.images import is_grayscale_rgb, load_exemplar

log = logging.getLogger(__name__)

_AT_FRAME = re.compile(r"^(?P<path>.+)@(?P<frame>\d+)$")


@dataclass(frozen=True)
class Exemplar:
    """rgb: uint8 (H, W, 3), any size (resized to the frame size as the authors do);
    frame: keyframe index, or None for a free reference; source: where it came from (for messages)."""

    rgb: np.ndarray
    frame: int | None = None
    source: str = "<array>"

    @property
    def is_keyframe(self) -> bool:
        return self.frame is not None


def parse_exemplar(spec: str | Path) -> Exemplar:
    """``"ref.png"`` -> free reference; ``"ref.png@12"`` -> keyframe exemplar of frame 12.

    A path that exists as given wins over the ``@N`` reading (so ``a@2.png`` style names work).
    """
    text = str(spec)
    match = _AT_FRAME.match(text)
    if match and not Path(text).exists():
        path, frame = Path(match["path"]), int(match["frame"])
    else:
        path, frame = Path(text), None
    return Exemplar(load_exemplar(path), frame, str(path))


def exemplars_from_dir(folder: str | Path) -> list[Exemplar]:
    """Keyframe exemplars from a folder of ``<frame>.<ext>`` images (e.g. ``000137.png`` = frame 137,
    as written by ``colormnet scenes``). Images that are still gray (not coloured yet) and files whose
    name is not a frame number are skipped with a notice."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"exemplar folder {folder} does not exist or is not a folder")
    found: list[Exemplar] = []
    images = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]
    for path in sorted(images, key=lambda p: natural_key(p.name)):
        if not path.stem.isdigit():
            log.warning("%s: not named <frame number>.<ext>; ignored", path)
            continue
        rgb = load_exemplar(path)
        if is_grayscale_rgb(rgb):
            log.warning("%s: not coloured yet (the image is gray); ignored", path)
            continue
        found.append(Exemplar(rgb, int(path.stem), str(path)))
    if not found:
        raise InputError(f"no coloured <frame>.png exemplar in {folder}: colour the keyframes written by "
                         "'colormnet scenes' (keep their names) first")
    return found


def check_exemplars(exemplars: Sequence[Exemplar], num_frames: int | None, video: str) -> None:
    """Raise :class:`InputError` for no exemplar, a keyframe past the end, or two on one frame."""
    if not exemplars:
        raise InputError("no exemplar given: pass at least one colour image with -e IMAGE (free reference) "
                         "or -e IMAGE@N (the colour version of frame N)")
    seen: dict[int, str] = {}
    for ex in exemplars:
        if ex.frame is None:
            continue
        if num_frames is not None and ex.frame >= num_frames:
            raise InputError(f"exemplar {ex.source} is for frame {ex.frame}, but {video} has only "
                             f"{num_frames} frames (0..{num_frames - 1})")
        if ex.frame in seen:
            raise InputError(f"exemplars {seen[ex.frame]} and {ex.source} are both for frame {ex.frame}")
        seen[ex.frame] = ex.source


def free_references(exemplars: Sequence[Exemplar]) -> list[Exemplar]:
    """The exemplars to add before frame 0.

    Free references, plus - when no exemplar covers frame 0 - the earliest keyframe exemplar, so
    the frames before it have a colour source (it is still injected at its own frame later).
    """
    refs = [ex for ex in exemplars if not ex.is_keyframe]
    keyframes = sorted((ex for ex in exemplars if ex.is_keyframe), key=lambda e: e.frame)
    if not refs and keyframes and keyframes[0].frame > 0:
        first = keyframes[0]
        log.info("no exemplar for frame 0: %s (frame %d) is also used as a free reference for the "
                 "frames before it", first.source, first.frame)
        refs.append(first)
    return refs
