"""Shot boundaries (scene cuts) found by PySceneDetect on the frames we pass, streaming.

PySceneDetect is an optional extra (``pip install 'colormnet[scenes]'``; it brings
``opencv-python-headless``, whose colour conversion and edge maps its detectors use). Detection runs
on what the colorizer sees: each frame's lightness (CIE L*, so a colour and a black-and-white copy of
a film give the same cuts), downscaled to ``analysis_width`` pixels, with the detectors' luma-only
weights. A cut at frame ``t`` means ``t`` is the first frame of a new shot.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from colormnet.color import lightness_norm
from colormnet.errors import InputError

log = logging.getLogger(__name__)

DETECTORS = ("adaptive", "content")
SCENE_CUT_MODES = ("off", "report", "reset")
INSTALL_HINT = "scene-cut detection needs PySceneDetect: pip install 'colormnet[scenes]'"


@dataclass(frozen=True)
class SceneDetectorConfig:
    """detector: ``adaptive`` (PySceneDetect's AdaptiveDetector: a frame's luma change relative to
    its neighbours' - robust to camera motion; reports a cut ``window_width`` frames late) or
    ``content`` (ContentDetector: absolute luma change, no delay). threshold: the detector's
    ``adaptive_threshold`` (default 3.0) or ``threshold`` (default 27.0); min_scene_len: shortest
    shot in frames; analysis_width: frames are downscaled to this width before detection."""

    detector: str = "adaptive"
    threshold: float | None = None
    min_scene_len: int = 15
    window_width: int = 2
    min_content_val: float = 15.0
    analysis_width: int = 256

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if self.min_scene_len < 1 or self.window_width < 1 or self.analysis_width < 16:
            raise ValueError("min_scene_len and window_width must be >= 1, analysis_width >= 16")


def scenedetect_available() -> bool:
    """True when PySceneDetect (and its OpenCV) can be imported."""
    try:
        import scenedetect  # noqa: F401
    except ImportError:
        return False
    return True


def analysis_frame(frame: np.ndarray, width: int = 256) -> np.ndarray:
    """What the detector sees: uint8 (H, W) gray / (H, W, 3) RGB, or a float L' map (H, W) in
    [-1, 1] -> uint8 (h, w, 3) gray image of the lightness, ``w = min(W, width)``."""
    frame = np.asarray(frame)
    h, w = frame.shape[:2]
    size = (w, h) if w <= width else (width, max(1, round(h * width / w)))
    if frame.dtype == np.uint8:
        small = np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR)) if size != (w, h) else frame
        if small.ndim == 3:
            small = np.round((lightness_norm(small) + 1) * 127.5).clip(0, 255).astype(np.uint8)
    elif frame.ndim == 2 and frame.dtype.kind == "f":
        gray = np.round((frame.astype(np.float32) + 1) * 127.5).clip(0, 255).astype(np.uint8)
        small = np.asarray(Image.fromarray(gray).resize(size, Image.BILINEAR)) if size != (w, h) else gray
    else:
        raise InputError(f"frames must be uint8 (H, W) or (H, W, 3), or float L' maps; got {frame.dtype} "
                         f"{frame.shape}")
    return np.repeat(small[:, :, None], 3, axis=2)


class CutDetector:
    """Streaming shot-boundary detector over PySceneDetect's detectors.

    ``push(frame)`` for every frame in order; returns the frame indices found to start a new shot
    (at most :attr:`latency` frames behind the frame just pushed); ``finish()`` after the last frame.
    """

    def __init__(self, config: SceneDetectorConfig | None = None, fps: float = 25.0) -> None:
        try:
            import scenedetect
            from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode
        except ImportError as err:
            raise InputError(f"{INSTALL_HINT} ({err})") from None
        from scenedetect.detector import FlashFilter

        self.config = cfg = config or SceneDetectorConfig()
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self._timecode = FrameTimecode
        self._version = scenedetect.__version__
        if cfg.detector == "adaptive":
            self._settings = {"adaptive_threshold": 3.0 if cfg.threshold is None else cfg.threshold,
                              "min_scene_len": cfg.min_scene_len, "window_width": cfg.window_width,
                              "min_content_val": cfg.min_content_val, "luma_only": True}
            self._detector = AdaptiveDetector(**self._settings)
        else:
            # SUPPRESS reports a cut on the frame it happens (MERGE would hold it back min_scene_len frames)
            self._settings = {"threshold": 27.0 if cfg.threshold is None else cfg.threshold,
                              "min_scene_len": cfg.min_scene_len, "luma_only": True,
                              "filter_mode": "SUPPRESS"}
            self._detector = ContentDetector(**{**self._settings, "filter_mode": FlashFilter.Mode.SUPPRESS})
        self._t = -1

    @property
    def latency(self) -> int:
        """How many frames after a cut's frame the cut may be reported."""
        return int(self._detector.event_buffer_length)

    def describe(self) -> dict:
        """Detector name, library version and settings (for JSON reports)."""
        name = {"adaptive": "AdaptiveDetector", "content": "ContentDetector"}[self.config.detector]
        return {"library": f"PySceneDetect {self._version}", "detector": name, "settings": dict(self._settings),
                "input": f"CIE L* of each frame, downscaled to at most {self.config.analysis_width} pixels wide",
                "config": asdict(self.config)}

    def push(self, frame: np.ndarray) -> list[int]:
        """Analyse the next frame (uint8 gray/RGB or float L'); returns newly found cut frames."""
        self._t += 1
        img = analysis_frame(frame, self.config.analysis_width)
        cuts = self._detector.process_frame(self._timecode(self._t, fps=self.fps), img)
        return sorted(c.frame_num for c in cuts if c.frame_num > 0)

    def finish(self) -> list[int]:
        """Cuts still held back when the stream ends."""
        if self._t < 0:
            return []
        cuts = self._detector.post_process(self._timecode(self._t, fps=self.fps))
        return sorted(c.frame_num for c in cuts if c.frame_num > 0)


def mark_cuts(frames: Iterable[np.ndarray], detector: CutDetector) -> Iterator[tuple[np.ndarray, bool]]:
    """(frame, starts_a_new_shot) for every frame, in order; holds at most ``latency`` frames."""
    pending: deque[np.ndarray] = deque()
    cuts: set[int] = set()
    first = 0  # index of pending[0]
    for frame in frames:
        pending.append(frame)
        cuts.update(detector.push(frame))
        while len(pending) > detector.latency:
            yield pending.popleft(), first in cuts
            first += 1
    cuts.update(detector.finish())
    while pending:
        yield pending.popleft(), first in cuts
        first += 1


def detect_cuts(frames: Iterable[np.ndarray], config: SceneDetectorConfig | None = None,
                fps: float = 25.0) -> list[int]:
    """All cut frames of a frame stream (frames whose index starts a new shot), ascending."""
    detector = CutDetector(config, fps)
    found: list[int] = []
    for frame in frames:
        found += detector.push(frame)
    return sorted(set(found + detector.finish()))
