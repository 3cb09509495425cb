"""Bidirectional colorization: a backward pass lets a keyframe exemplar late in a shot colour the
frames before it; the two predictions are blended per pixel by their confidences.

Streaming, bounded memory, about 2x the time of a forward run:

1. read the input once: each frame's lightness at the working size goes to a temporary folder on disk
   (float16, compressed) and the scene cuts are detected (when ``scene_cuts`` is not ``off``);
2. backward pass over frames ``K..0`` (K = the last keyframe exemplar after frame 0), read back from
   disk in reverse, seeded by the keyframe exemplars (mirrored) and the free references; its chroma
   and confidence go to disk (float16, compressed, working size); scene cuts reset it as they do the
   forward pass when ``scene_cuts="reset"``;
3. read the input again and run the forward pass; each frame up to K is blended with the stored
   backward result: ``ab = (c_f ab_f + c_b ab_b) / (c_f + c_b)``, confidence ``max(c_f, c_b)``.
   Frames after K and keyframe exemplars' own frames are the forward pass's output unchanged.

With no keyframe exemplar after frame 0 the backward pass cannot add anything; it is skipped and the
result is exactly the forward pass. Disk use: about 2 bytes x 4 channels per working-size pixel per
frame before compression (about 7 MB per 1280x720 frame; chroma maps compress well).
"""

from __future__ import annotations

import logging
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from colormnet.color import lab_norm_to_rgb, lightness_norm
from colormnet.inference.engine import (
    ColorizeOptions,
    FrameResult,
    _resize_plane,
    as_rgb,
    frames_with_cuts,
    iter_colorize,
    working_size,
)
from colormnet.inference.exemplars import Exemplar
from colormnet.model.network import ColorMNet

log = logging.getLogger(__name__)


class _DiskFrames:
    """Per-frame arrays in a folder, one compressed ``.npz`` per (kind, frame)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, kind: str, t: int, **arrays: np.ndarray) -> None:
        np.savez_compressed(self.root / f"{kind}_{t:07d}.npz", **{k: v.astype(np.float16) for k, v in arrays.items()})

    def load(self, kind: str, t: int) -> dict[str, np.ndarray]:
        with np.load(self.root / f"{kind}_{t:07d}.npz") as data:
            return {k: data[k].astype(np.float32) for k in data.files}


def _lightness(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 and frame.dtype == np.float32 else lightness_norm(as_rgb(frame))


def iter_colorize_bidirectional(model: ColorMNet, open_frames: Callable[[], Iterable[np.ndarray]],
                                exemplars: Sequence[Exemplar], options: ColorizeOptions | None = None,
                                workdir: str | Path | None = None) -> Iterator[FrameResult]:
    """Like :func:`~colormnet.inference.engine.iter_colorize`, forward and backward (see module doc).

    open_frames: returns a fresh iterable over the same frames each time it is called (it is called
    twice, or once when the backward pass is skipped). workdir: where the temporary folder goes
    (default: the system's temporary directory); it is removed at the end, also on errors.
    Results carry the forward pass's step info.
    """
    options = options or ColorizeOptions()
    late = [ex.frame for ex in exemplars if ex.is_keyframe and ex.frame > 0]
    if not late:
        log.info("no keyframe exemplar after frame 0: backward pass skipped (it would add nothing)")
        yield from iter_colorize(model, open_frames(), exemplars, options)
        return
    last_key = max(late)
    keyframes = {ex.frame for ex in exemplars if ex.is_keyframe}
    with tempfile.TemporaryDirectory(prefix="colormnet-bidirectional-", dir=workdir) as tmp:
        disk = _DiskFrames(Path(tmp))
        # 1. lightness at the working size, and the cuts
        cuts, size = [], None
        for t, (frame, is_cut) in enumerate(frames_with_cuts(open_frames(), options, None)):
            if is_cut and t > 0:
                cuts.append(t)
            if t <= last_key:
                l_full = _lightness(frame)
                if size is None:
                    size = working_size(l_full.shape[1], l_full.shape[0], options.max_side)
                disk.save("l", t, l=_resize_plane(l_full[None], size[::-1])[0])
        # 2. backward over last_key..0, exemplars mirrored
        mirrored = [replace(ex, frame=last_key - ex.frame) if ex.is_keyframe else ex
                    for ex in exemplars if not ex.is_keyframe or ex.frame <= last_key]
        backward_cuts = [last_key - c + 1 for c in cuts if c <= last_key]
        log.info("backward pass over frames %d..0", last_key)
        reversed_l = (disk.load("l", t)["l"] for t in range(last_key, -1, -1))
        for i, res in enumerate(iter_colorize(model, reversed_l, mirrored, options, cuts=backward_cuts)):
            disk.save("b", last_key - i, ab=res.ab, c=res.confidence)
        # 3. forward, blended
        pending: deque[np.ndarray] = deque()

        def tapped() -> Iterator[np.ndarray]:
            for frame in open_frames():
                pending.append(frame)
                yield frame

        for t, fwd in enumerate(iter_colorize(model, tapped(), exemplars, options, cuts=cuts)):
            frame = pending.popleft()
            if t > last_key or t in keyframes:
                yield fwd
                continue
            back = disk.load("b", t)
            hw = fwd.confidence.shape
            ab_b, c_b = _resize_plane(back["ab"], hw), _resize_plane(back["c"][None], hw)[0]
            c_f = fwd.confidence
            total = c_f + c_b
            safe = np.where(total > 1e-6, total, 1.0)
            w_f = np.where(total > 1e-6, c_f / safe, 0.5)
            ab = (w_f * fwd.ab + (1 - w_f) * ab_b).astype(np.float32)
            yield fwd._replace(rgb=lab_norm_to_rgb(_lightness(frame), ab), ab=ab,
                               confidence=np.maximum(c_f, c_b).astype(np.float32))
