"""Exemplars: colour images that steer the colorization.

* keyframe exemplar ``IMAGE@N``: the colour version of frame N; injected when the stream reaches it.
* free reference ``IMAGE``: any colour picture of the scene (the authors' "exemplar is not the
  first frame" mode); added to memory before the first frame.

All of them sit in permanent memory, which consolidation and eviction never touch.
"""

from __future__ import annotations

import json
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


SHOT_LIST = "shots.json"


def _shot_list_mapping(folder: Path) -> dict[Path, int]:
    """image path -> keyframe from ``folder/shots.json`` (as written by ``colormnet scenes``: a
    ``shots`` list of objects with ``keyframe`` and ``image``); InputError naming the file when it is
    malformed or lists an image that does not exist."""
    path = folder / SHOT_LIST
    try:
        report = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: cannot be read as a shot list ({err}); fix it, or remove it to use the "
                         "<frame>.png names") from None
    shots = report.get("shots") if isinstance(report, dict) else None
    if not isinstance(shots, list):
        raise InputError(f"{path}: not a shot list (expected an object with a 'shots' list, as written by "
                         "'colormnet scenes'); fix it, or remove it to use the <frame>.png names")
    mapping: dict[Path, int] = {}
    for i, shot in enumerate(shots):
        frame = shot.get("keyframe") if isinstance(shot, dict) else None
        image = shot.get("image") if isinstance(shot, dict) else None
        if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0 or not isinstance(image, str) \
                or not image:
            raise InputError(f"{path}: shot {i} needs a 'keyframe' (frame number >= 0) and an 'image' (file "
                             f"name), got {json.dumps(shot)[:200]}")
        file = folder / image
        if not file.is_file():
            raise InputError(f"{path}: shot {i} lists the keyframe image {file}, which does not exist (keep the "
                             "names, or change 'image' in the shot list)")
        if file.resolve() in {p.resolve() for p in mapping}:
            raise InputError(f"{path}: the image {file} is listed for two shots")
        mapping[file] = frame
    return mapping


def exemplars_from_dir(folder: str | Path) -> list[Exemplar]:
    """Keyframe exemplars from a folder written by ``colormnet scenes`` and coloured by hand.

    When the folder holds ``shots.json``, each shot's ``image`` is the keyframe exemplar of its
    ``keyframe`` frame (so renamed files recorded there are found); other images named
    ``<frame>.<ext>`` (e.g. ``000137.png`` = frame 137) count as well. Images that are still gray (not
    coloured yet) and files whose name is not a frame number are skipped with a notice."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"exemplar folder {folder} does not exist or is not a folder")
    listed = _shot_list_mapping(folder) if (folder / SHOT_LIST).exists() else {}
    listed_files = {p.resolve() for p in listed}
    candidates: list[tuple[Path, int]] = list(listed.items())
    images = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]
    for path in sorted(images, key=lambda p: natural_key(p.name)):
        if path.resolve() in listed_files:
            continue
        if not path.stem.isdigit():
            log.warning("%s: not named <frame number>.<ext>%s; ignored", path,
                        f" nor listed in {SHOT_LIST}" if listed else "")
            continue
        candidates.append((path, int(path.stem)))
    found: list[Exemplar] = []
    for path, frame in sorted(candidates, key=lambda c: c[1]):
        rgb = load_exemplar(path)
        if is_grayscale_rgb(rgb):
            log.warning("%s: not coloured yet (the image is gray); ignored", path)
            continue
        found.append(Exemplar(rgb, frame, str(path)))
    if not found:
        raise InputError(f"no coloured keyframe exemplar in {folder}: colour the keyframes written by "
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
