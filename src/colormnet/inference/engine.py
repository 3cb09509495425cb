"""Streaming colorization of a frame sequence with any number of exemplars: the one driver.

Every colorization goes through :func:`iter_colorize`: the file API and CLI
(:func:`colormnet.api.colorize_video`), the dataset runner (:mod:`colormnet.inference.dataset`),
training validation and the benchmarks. It checks the exemplars, feeds the frames to a
:class:`~colormnet.inference.session.ColorizationSession` one at a time (nothing here keeps more than
the current frame and a one-frame look-ahead, to know which frame is the last, or with the key
look-ahead ``ColorizeOptions.lookahead`` = K the K frames whose keys are encoded in one batch), times
each step and calls the caller's per-frame hook. Large frames run the network at a reduced working size
(``max_side``) and the predicted chroma is upsampled onto the full-resolution luminance.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from colormnet.color import lab_norm_to_rgb, lightness_norm, rgb_to_lab_norm
from colormnet.config import DEFAULT_MAX_SIDE, MemoryConfig
from colormnet.errors import InputError
from colormnet.inference.exemplars import Exemplar, check_exemplars, free_references
from colormnet.inference.scenes import (
    INSTALL_HINT,
    SCENE_CUT_MODES,
    CutDetector,
    SceneDetectorConfig,
    mark_cuts,
    scenedetect_available,
)
from colormnet.inference.session import ColorizationSession, StepInfo
from colormnet.io.images import is_grayscale_rgb, resize_exemplar
from colormnet.model.key_encoder import KeyFeatures
from colormnet.model.network import ColorMNet

log = logging.getLogger(__name__)

_OUTPUT_DEPTH = 2  # frames whose full-size output is being made on the worker thread, at most
DEFAULT_LOOKAHEAD = 4
"""Frames whose keys are encoded in one batch on CUDA/MPS by default (``lookahead=None``)."""


@dataclass(frozen=True)
class ColorizeOptions:
    """memory: memory settings; max_side: see :data:`DEFAULT_MAX_SIDE`; autocast_dtype: network
    precision under autocast (None = float32); colour_input_notice: warn when the frames are in
    colour (off for datasets that feed colour ground truth on purpose);
    scene_cuts: ``off`` (no detection), ``report`` (detect
    and mark cuts, change nothing) or ``reset`` (also start each shot afresh, see
    :meth:`ColorizationSession.reset_shot`); scene_detector: detector settings; lookahead: encode
    the keys of this many upcoming frames in one batch (the key encoder does not depend on the
    memory; same output up to float rounding, at most this many frames held), None = by device
    (:func:`resolve_lookahead`: :data:`DEFAULT_LOOKAHEAD` on CUDA/MPS, 0 = off (frame by frame) on
    the CPU, where batching does not pay); output_thread: make each frame's full-size output
    (chroma and confidence upsampling, Lab->RGB) on a worker thread while the network runs the next
    frame (same results, in order; False = on the calling thread)."""

    memory: MemoryConfig = field(default_factory=MemoryConfig)
    max_side: int = DEFAULT_MAX_SIDE
    autocast_dtype: torch.dtype | None = None
    colour_input_notice: bool = True
    scene_cuts: str = "off"
    scene_detector: SceneDetectorConfig = field(default_factory=SceneDetectorConfig)
    lookahead: int | None = None
    output_thread: bool = True

    def __post_init__(self) -> None:
        if self.lookahead is not None and self.lookahead < 0:
            raise ValueError(f"lookahead must be >= 0 (0 or 1 = frame by frame), got {self.lookahead}")
        if self.scene_cuts not in SCENE_CUT_MODES:
            raise ValueError(f"scene_cuts must be one of {', '.join(SCENE_CUT_MODES)}, got {self.scene_cuts!r}")


def working_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(w, h) the network runs at: native, or scaled so the longer side is ``max_side``."""
    if max_side <= 0 or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def as_rgb(frame: np.ndarray) -> np.ndarray:
    """uint8 (H, W) gray or (H, W, 3) RGB -> (H, W, 3) RGB."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise InputError(f"frames must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        return np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise InputError(f"frames must be (H, W) or (H, W, 3), got shape {frame.shape}")


def _resize_plane(x: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of (C, H, W) float32 to (C, h, w) (antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(size_hw):
        return x
    t = torch.from_numpy(np.ascontiguousarray(x))[None]
    shrink = size_hw[0] < x.shape[-2] or size_hw[1] < x.shape[-1]
    return F.interpolate(t, size=size_hw, mode="bilinear", align_corners=False, antialias=shrink)[0].numpy()


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A host array as a tensor on ``device``. CUDA: through page-locked (pinned) memory and an
    asynchronous copy, ordered before the kernels queued after it on the stream; elsewhere a plain
    copy (a no-op on the CPU)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _with_lookahead(frames: Iterable) -> Iterator[tuple]:
    it = iter(frames)
    try:
        current = next(it)
    except StopIteration:
        raise InputError("the input has no frames") from None
    for nxt in it:
        yield current, False
        current = nxt
    yield current, True


class FrameResult(NamedTuple):
    """rgb: uint8 (H, W, 3); ab: float32 (2, H, W) normalised chroma; info: the session's step info;
    seconds / cpu_seconds: wall and process CPU time of the network and memory work of this frame
    (the session step, its share of a look-ahead key batch, and the free references' encoding on frame
    0; the device is synchronised, no colour conversion or I/O; process CPU time counts every thread,
    so it includes what worker threads did meanwhile); confidence: float32 (H, W) in [0, 1] (see
    :mod:`colormnet.memory.confidence`); is_cut: the frame starts a new shot."""

    rgb: np.ndarray
    ab: np.ndarray
    info: StepInfo
    seconds: float
    cpu_seconds: float
    confidence: np.ndarray | None = None
    is_cut: bool = False


FrameHook = Callable[[int, FrameResult], None]
"""Called as ``hook(t, result)`` after frame ``t`` is colorized, before it is yielded."""


class _Timer:
    """Wall and CPU time of a block, with the device synchronised at both ends (CUDA)."""

    def __init__(self, device: torch.device) -> None:
        self.sync = torch.cuda.synchronize if device.type == "cuda" else None
        self.device = device
        self.seconds = self.cpu_seconds = 0.0

    def __enter__(self) -> _Timer:
        if self.sync is not None:
            self.sync(self.device)
        self._start, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sync is not None:
            self.sync(self.device)
        self.add(time.perf_counter() - self._start, time.process_time() - self._cpu)

    def add(self, seconds: float, cpu_seconds: float) -> None:
        self.seconds += seconds
        self.cpu_seconds += cpu_seconds


def frames_with_cuts(frames: Iterable[np.ndarray], options: ColorizeOptions,
            cuts: Collection[int] | None) -> Iterable[tuple[np.ndarray, bool]]:
    """(frame, is_cut) per frame: the given cuts, else detected ones (scene_cuts report/reset)."""
    if cuts is not None:
        cut_set = set(cuts)
        return ((frame, t in cut_set) for t, frame in enumerate(frames))
    if options.scene_cuts == "off":
        return ((frame, False) for frame in frames)
    if options.scene_cuts == "report" and not scenedetect_available():
        log.warning("scene cuts are not reported: %s", INSTALL_HINT)
        return ((frame, False) for frame in frames)
    return mark_cuts(frames, CutDetector(options.scene_detector))


def colorize_frames(model: ColorMNet, frames: Iterable[np.ndarray], exemplars: Sequence[Exemplar],
                    options: ColorizeOptions | None = None, *, on_frame: FrameHook | None = None
                    ) -> Iterator[np.ndarray]:
    """Colorize a stream of frames; yields uint8 RGB (H, W, 3) per input frame, in order.

    frames: uint8 (H, W) luma or (H, W, 3) RGB (colour input is reduced to its CIE L*, with a
    notice). exemplars: keyframe exemplars and/or free references (see :mod:`.exemplars`); at
    least one, at most one per frame (else InputError). Output keeps each frame's own L* and the
    predicted chroma at full size. ``on_frame``: see :func:`iter_colorize`.
    """
    for result in iter_colorize(model, frames, exemplars, options, on_frame=on_frame):
        yield result.rgb


def resolve_lookahead(lookahead: int | None, device: torch.device) -> int:
    """Frames whose keys are encoded in one batch: ``lookahead``, or by default
    :data:`DEFAULT_LOOKAHEAD` on an accelerator and 0 (off: frame by frame) on the CPU, where batching
    does not pay. 0 and 1 both mean frame by frame."""
    if lookahead is None:
        return 0 if device.type in ("cpu", "meta") else DEFAULT_LOOKAHEAD
    return lookahead


def _prepare_frames(session: ColorizationSession, frames: Iterable[tuple[np.ndarray, bool]],
                    exemplars: Sequence[Exemplar], options: ColorizeOptions) -> Iterator[_Frame]:
    """Check each frame, reduce it to L* and the working size (on the session's device); on frame 0
    encode the free references into the session (timed on frame 0)."""
    device = session.device
    keyframes = {ex.frame: ex for ex in exemplars if ex.is_keyframe}
    references = free_references(exemplars)
    warned_colour = not options.colour_input_notice
    full_size = size = (0, 0)
    for t, ((frame, is_cut), is_last) in enumerate(_with_lookahead(frames)):
        is_l_map = frame.ndim == 2 and frame.dtype == np.float32
        rgb = None if is_l_map else as_rgb(frame)
        height, width = frame.shape[:2]
        timer = _Timer(device)
        if t == 0:
            full_size = (width, height)
            size = working_size(width, height, options.max_side)
            if size != full_size:
                log.info("frames are %dx%d: the network runs at %dx%d and the chroma is upsampled "
                         "(max side %d)", width, height, *size, options.max_side)
            for ex in references:
                lab = to_device(rgb_to_lab_norm(resize_exemplar(ex.rgb, size)), device)
                with timer:
                    session.add_reference(lab[0], lab[1:])
        elif (width, height) != full_size:
            raise InputError(f"frame {t} is {width}x{height}, earlier frames were "
                             f"{full_size[0]}x{full_size[1]}")
        if not warned_colour and frame.ndim == 3 and not is_grayscale_rgb(rgb[::8, ::8]):
            log.warning("the input frames are in colour; only their lightness (CIE L*) is used")
            warned_colour = True
        l_full = frame if is_l_map else lightness_norm(rgb)
        l_work = to_device(_resize_plane(l_full[None], size[::-1])[0], device)
        yield _Frame(t, is_last, is_cut, l_full, l_work, keyframes.get(t), timer)


def _with_keys(session: ColorizationSession, frames: Iterable[_Frame], lookahead: int
               ) -> Iterator[tuple[_Frame, KeyFeatures | None]]:
    """Each frame with its key features encoded ahead in batches of ``lookahead`` frames (None when
    ``lookahead`` is 1: the session encodes frame by frame). The batch's time is shared evenly by
    its frames' timers. Holds at most ``lookahead`` frames."""
    if lookahead <= 1:
        yield from ((frame, None) for frame in frames)
        return
    batch: list[_Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) < lookahead and not frame.is_last:
            continue
        timer = _Timer(session.device)
        with timer:
            feats = session.encode_keys([f.l_work for f in batch])
        for f in batch:
            f.timer.add(timer.seconds / len(batch), timer.cpu_seconds / len(batch))
        yield from zip(batch, feats, strict=True)
        batch = []


class _Frame(NamedTuple):
    """One frame, prepared for the session: full-size lightness (and RGB), working-size L' on the device."""

    t: int
    is_last: bool
    is_cut: bool
    l_full: np.ndarray
    l_work: torch.Tensor
    exemplar: Exemplar | None
    timer: _Timer


def _output(item: _Frame, ab: np.ndarray | None, ab_full: np.ndarray | None, confidence: np.ndarray,
            info: StepInfo) -> FrameResult:
    """The frame's result at full size from the working-size chroma ``ab`` (2, h, w) (or the exemplar's
    full-size ``ab_full``) and confidence (h, w)."""
    height, width = item.l_full.shape
    if ab_full is None:
        ab_full = _resize_plane(ab, (height, width))
    return FrameResult(lab_norm_to_rgb(item.l_full, ab_full), ab_full, info, item.timer.seconds,
                       item.timer.cpu_seconds, _resize_plane(confidence[None], (height, width))[0],
                       item.is_cut and item.t > 0)


def _emit(t: int, result: FrameResult | Future[FrameResult], on_frame: FrameHook | None) -> FrameResult:
    if isinstance(result, Future):
        result = result.result()  # re-raises what the worker raised
    if on_frame is not None:
        on_frame(t, result)
    return result


def iter_colorize(model: ColorMNet, frames: Iterable[np.ndarray], exemplars: Sequence[Exemplar],
                  options: ColorizeOptions | None = None, cuts: Collection[int] | None = None, *,
                  on_frame: FrameHook | None = None
                  ) -> Iterator[FrameResult]:
    """:func:`colorize_frames` with the chroma, memory bookkeeping and step time of every frame.

    on_frame: called as ``on_frame(t, result)`` for every frame before it is yielded (progress bars,
    timing). A keyframe exemplar past the last frame is reported with a warning when the stream ends.

    frames may also be float32 L' maps (H, W) in [-1, 1]. cuts: frames known to start a new shot
    (instead of detecting them with ``options.scene_cuts``); with ``scene_cuts="reset"`` the session
    starts afresh at each. Results carry each frame's confidence and whether it starts a shot.
    With ``options.lookahead`` K > 1 up to K frames are read ahead and their keys encoded in one batch.
    """
    options = options or ColorizeOptions()
    check_exemplars(exemplars, None, "the input")
    session = ColorizationSession(model, options.memory, options.autocast_dtype)
    device = session.device
    lookahead = resolve_lookahead(options.lookahead, device)
    keyframes = {ex.frame: ex for ex in exemplars if ex.is_keyframe}
    prepared = _prepare_frames(session, frames_with_cuts(frames, options, cuts), exemplars, options)
    frames_seen = 0
    # the full-size output of each frame (upsampling, Lab->RGB) is made on a worker thread while the
    # network runs the next frame; results leave in order, at most _OUTPUT_DEPTH frames behind
    pool = ThreadPoolExecutor(1, thread_name_prefix="colormnet-output") if options.output_thread else None
    pending: deque[tuple[int, Future[FrameResult]]] = deque()
    try:
        for item, key_features in _with_keys(session, prepared, lookahead):
            t, timer = item.t, item.timer
            frames_seen = t + 1
            height, width = item.l_full.shape
            if item.is_cut and t > 0:
                if options.scene_cuts == "reset":
                    log.info("frame %d: scene cut, memory reset", t)
                    session.reset_shot()
                else:
                    log.debug("frame %d: scene cut", t)
            ab = ab_full = None
            if item.exemplar is not None:
                ab_full = rgb_to_lab_norm(resize_exemplar(item.exemplar.rgb, (width, height)))[1:]
                ab_work = to_device(_resize_plane(ab_full, tuple(item.l_work.shape)), device)
                with timer:
                    session.step(item.l_work, exemplar_ab=ab_work, is_last=item.is_last, key_features=key_features)
            else:
                with timer:
                    ab = session.step(item.l_work, is_last=item.is_last, key_features=key_features).cpu().numpy()
            args = (item, ab, ab_full, session.last_confidence.cpu().numpy(), session.last_info)
            if pool is None:
                yield _emit(t, _output(*args), on_frame)
                continue
            pending.append((t, pool.submit(_output, *args)))
            while len(pending) > _OUTPUT_DEPTH:
                yield _emit(*pending.popleft(), on_frame)
        while pending:
            yield _emit(*pending.popleft(), on_frame)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    for ex in sorted(keyframes.values(), key=lambda e: e.frame):
        if ex.frame >= frames_seen:
            log.warning("exemplar %s for frame %d was never used: the input ended after %d frames "
                        "(0..%d)%s", ex.source, ex.frame, frames_seen, frames_seen - 1,
                        "; it only served as a free reference" if any(ex is r for r in free_references(exemplars))
                        else "")

