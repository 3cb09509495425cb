"""Video files with PyAV: probe, stream-decode to upright RGB, stream-encode from RGB keeping timing and
every other stream of the input.

Nothing here holds more than a few frames in memory.

Reader choices:

- Orientation: a display matrix (phone clips: "rotate 90") is applied, so frames come out as a player
  shows them (multiples of 90 degrees and mirroring); :class:`VideoInfo` ``width``/``height`` are the
  displayed size. The output is written upright, without a matrix.
- Interlaced input is processed as stored (both fields woven into one frame), with a warning.
- Frames are decoded to 8-bit RGB whatever the input depth or chroma format (10-bit, 4:2:2, 4:4:4).
- A file that ends early (truncated download: fewer frames than an MP4 announces, or Matroska streams
  ending well before the header's duration) gives the frames that are there, with a warning; a
  decoding error part-way is an :class:`InputError`.

Writer choices (container table, codecs, pixel format and time base: :mod:`colormnet.io.containers`;
other streams: :mod:`colormnet.io.streams`):

- Frames are converted from RGB with the BT.709 matrix, limited ("TV") range, and YUV streams are
  tagged BT.709 so players decode with the same matrix. Decoding uses the tags of the input.
- Timing: frame ``i`` gets the pts of input frame ``i``, so count, order, rate and sync match the
  input, in the container's time unit. Constant-rate containers (AVI, MPEG-PS) get a time base of
  1/fps and frame indices; a variable-rate input is then written at its average rate (warning).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np

from colormnet.errors import InputError, OutputError
from colormnet.io.atomic import AtomicOutput, check_output_path, commit_file, partial_file_path, remove_quietly
from colormnet.io.containers import CONTAINERS, QSCALE_CODECS, VideoPlan, plan_video
from colormnet.io.streams import StreamCopier, copy_metadata

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

_CRF_CODECS = frozenset({"libx264", "libx264rgb", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"})
_QP2LAMBDA = 118  # FFmpeg's FF_QP2LAMBDA: global_quality = quantizer * this
_QSCALE = 2  # fixed quantizer of MPEG-1/2/4 Part 2 (2 = near transparent; they take no CRF)

Orientation = tuple[int, int, int, int]  # signs (a, b, c, d) of the display matrix's 2x2 part


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video (sizes in pixels as displayed, times in seconds)."""

    path: Path | None
    width: int
    height: int
    fps: Fraction  # average frame rate
    time_base: Fraction  # unit of the pts values
    num_frames: int  # from the container when it knows it, else counted by demuxing
    duration: float
    pix_fmt: str
    codec: str
    has_audio: bool
    audio_codec: str | None
    start_pts: int = 0
    sample_aspect_ratio: Fraction | None = None
    orientation: Orientation | None = None  # display matrix to apply (None: frames are upright)
    rotation: int = 0  # counter-clockwise degrees of the display matrix, for messages
    interlaced: bool = False
    video_index: int = 0  # index of the decoded stream in the file
    frames_counted: bool = False  # num_frames was counted by demuxing (the container does not store it)

    @classmethod
    def for_size(cls, width: int, height: int, fps: Fraction | int | float = 25) -> VideoInfo:
        """Description for writing a video that has no input video (e.g. from a frame folder)."""
        rate = Fraction(fps).limit_denominator(1001 * 1000)
        return cls(path=None, width=width, height=height, fps=rate, time_base=1 / rate, num_frames=0,
                   duration=0.0, pix_fmt="rgb24", codec="", has_audio=False, audio_codec=None)

    @property
    def frame_duration_pts(self) -> int:
        """Nominal duration of one frame in time-base units (at least 1)."""
        return max(1, round(1 / (self.fps * self.time_base)))


class DecodedFrame(NamedTuple):
    """One decoded frame: ``rgb`` uint8 (H, W, 3), its ``pts`` in the stream time base and ``time`` (s)."""

    index: int
    pts: int
    time: float
    rgb: np.ndarray


def _open_input(path: PathLike) -> av.container.InputContainer:
    p = Path(path)
    if not p.exists():
        raise InputError(f"video {p} does not exist")
    if p.is_dir():
        raise InputError(f"video {p} is a folder; give a video file (or use a frame folder input)")
    try:
        return av.open(str(p), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        spec = CONTAINERS.get(p.suffix.lower())
        if spec is not None and spec.name == "mpegts":  # FFmpeg cannot detect a TS of only 2-3 frames
            try:
                return av.open(str(p), mode="r", format=spec.name)
            except (av.error.FFmpegError, UnicodeDecodeError, ValueError):
                pass
        raise InputError(f"{p} is not a video FFmpeg can read ({exc})") from exc


def _video_stream(container: av.container.InputContainer, path: PathLike) -> av.video.stream.VideoStream:
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:  # skip cover art
            return stream
    kinds = sorted({"cover art" if s.type == "video" else s.type for s in container.streams})
    raise InputError(f"{path} has no video stream" + (f" (only {' and '.join(kinds)})" if kinds else ""))


def _orientation(frame: av.VideoFrame, path: Path) -> Orientation | None:
    """Signs of the display matrix (FFmpeg layout: x' = a x + c y, y' = b x + d y), or None if upright."""
    matrix = next((sd for sd in frame.side_data if sd.type.name == "DISPLAYMATRIX"), None)
    if matrix is None:
        return None
    m = np.frombuffer(bytes(matrix), dtype=np.int32)
    a, b, c, d = (int(m[0]), int(m[1]), int(m[3]), int(m[4]))
    if (a == 0 and d == 0 and b and c) or (b == 0 and c == 0 and a and d):
        signs = tuple(int(np.sign(v)) for v in (a, b, c, d))
        return None if signs == (1, 0, 0, 1) else signs  # type: ignore[return-value]
    log.warning("%s asks to be displayed rotated by %s degrees, which is not a multiple of 90; frames are "
                "processed and written as stored", path, frame.rotation)
    return None


def orient(rgb: np.ndarray, orientation: Orientation | None) -> np.ndarray:
    """Apply a display matrix to stored pixels (H, W, C): the frame as a player shows it."""
    if orientation is None:
        return rgb
    a, b, c, d = orientation
    if a == 0:  # 90/270 degrees (maybe mirrored): displayed x follows stored y, displayed y stored x
        out = rgb.transpose(1, 0, 2)
        out = out[::-1] if b < 0 else out
        out = out[:, ::-1] if c < 0 else out
    else:
        out = rgb[::-1] if d < 0 else rgb
        out = out[:, ::-1] if a < 0 else out
    return np.ascontiguousarray(out)


def _count_frames(path: Path, index: int) -> int:
    """Video packets of stream ``index``, counted by demuxing. Warns when the header's duration (Matroska
    writes it when the file is finished) runs well past the end of every stream: a truncated file."""
    frames, end = 0, 0.0
    with _open_input(path) as container:
        header = container.duration / av.time_base if container.duration else None
        start = container.start_time / av.time_base if container.start_time else 0.0
        try:
            for pkt in container.demux():
                if pkt.size == 0 or pkt.pts is None:
                    continue
                frames += pkt.stream.index == index
                end = max(end, float((pkt.pts + (pkt.duration or 0)) * pkt.time_base) - start)
        except av.error.FFmpegError as exc:
            log.warning("%s: reading stopped after %d frames (%s)", path, frames, exc)
    if header is not None and header - end > max(0.25, 0.05 * header):
        log.warning("%s: its header says %.2f s but the streams end at %.2f s; the file looks truncated, "
                    "continuing with the %d frames that are there", path, header, end, frames)
    return max(frames, 1)


def probe(path: PathLike) -> VideoInfo:
    """Describe a video file; :class:`InputError` when it is missing, unreadable or has no frames.

    Decodes the first frame (display matrix, interlacing, and a check that the file decodes at all).
    """
    p = Path(path)
    with _open_input(p) as container:
        stream = _video_stream(container, p)
        cc = stream.codec_context
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not fps:
            raise InputError(f"{p}: the frame rate of the video stream is unknown")
        time_base = stream.time_base or 1 / Fraction(fps)
        num_frames, counted = stream.frames, False
        try:
            first = next(iter(container.decode(stream)), None)
        except av.error.FFmpegError as exc:
            raise InputError(f"{p}: the first frame cannot be decoded ({exc}); the file may be damaged") from exc
        if first is None:
            raise InputError(f"{p} contains no video frames" if num_frames <= 0 else
                             f"{p}: no frame could be decoded; the file may be damaged")
        if stream.duration:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        pix_fmt = cc.pix_fmt or (stream.format.name if stream.format else None) or "unknown"
        audio = container.streams.audio[0] if container.streams.audio else None
        width, height, index = cc.width, cc.height, stream.index
        sar = Fraction(cc.sample_aspect_ratio) if cc.sample_aspect_ratio else None
        start_pts = first.pts if first.pts is not None else (stream.start_time or 0)
        orientation, rotation, interlaced = _orientation(first, p), first.rotation or 0, bool(first.interlaced_frame)
    if num_frames <= 0:  # container does not store it (Matroska, WebM, raw streams): count packets
        num_frames, counted = _count_frames(p, index), True
    if not duration:
        duration = float(num_frames / Fraction(fps))
    if orientation is not None and orientation[0] == 0:
        width, height = height, width
        sar = 1 / sar if sar else None
    if orientation is not None:
        log.info("%s is displayed rotated (%d degrees); frames are colorized and written upright at %dx%d",
                 p.name, rotation, width, height)
    if interlaced:
        log.warning("%s is interlaced; frames are processed as stored (both fields in one frame), which "
                    "can show combing. Deinterlace first for best results (e.g. ffmpeg -vf bwdif).", p)
    return VideoInfo(
        path=p, width=width, height=height, fps=Fraction(fps), time_base=Fraction(time_base),
        num_frames=num_frames, duration=duration, pix_fmt=pix_fmt,
        codec=cc.name, has_audio=audio is not None,
        audio_codec=audio.codec_context.name if audio is not None else None,
        start_pts=start_pts, sample_aspect_ratio=sar, orientation=orientation, rotation=rotation,
        interlaced=interlaced, video_index=index, frames_counted=counted,
    )


class VideoReader:
    """Stream the frames of a video as :class:`DecodedFrame` (uint8 RGB, upright, via ``to_ndarray``).

    ``with VideoReader(p) as r: for f in r: ...``. Each iteration decodes from the start. Raises
    :class:`InputError` for a missing/unreadable file, no video stream, a decoding failure or when
    no frame at all could be decoded. pts are made strictly increasing (a missing or repeated pts
    becomes the previous one plus a frame). ``decoded`` is the number of frames of the last pass.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self.info = probe(self.path)
        self.decoded = 0
        self._container: av.container.InputContainer | None = None

    def __len__(self) -> int:
        return self.info.num_frames

    def __iter__(self) -> Iterator[DecodedFrame]:
        self.close()
        container = self._container = _open_input(self.path)
        info, n, last = self.info, 0, None
        stored = (info.height, info.width) if info.orientation and info.orientation[0] == 0 else \
            (info.width, info.height)
        try:
            stream = container.streams[info.video_index]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if (frame.width, frame.height) != stored:
                    raise InputError(f"{self.path}: frame {n} is {frame.width}x{frame.height}, the video "
                                     f"started at {stored[0]}x{stored[1]}; size changes are not supported")
                pts = frame.pts
                if pts is None or (last is not None and pts <= last):
                    pts = (last + info.frame_duration_pts) if last is not None else info.start_pts
                last = pts
                rgb = orient(frame.to_ndarray(format="rgb24"), info.orientation)
                yield DecodedFrame(n, pts, float(pts * info.time_base), rgb)
                n += 1
                self.decoded = n
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.path}: decoding failed after {n} frames ({exc})") from exc
        finally:
            container.close()
            if self._container is container:
                self._container = None
        if n == 0:
            raise InputError(f"{self.path}: no frame could be decoded; the file may be damaged")
        if n < info.num_frames and not info.frames_counted:
            log.warning("%s: its container announces %d frames but only %d could be decoded (the file is "
                        "truncated or damaged); continuing with %d frames", self.path, info.num_frames, n, n)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


class VideoWriter(AtomicOutput):
    """Encode uint8 RGB frames one by one into ``path``, atomically, copying the other streams of
    ``streams_from`` (audio, subtitles, chapters, metadata: :mod:`colormnet.io.streams`).

    ``info`` describes the input (its size, frame rate and time base are reused). ``codec`` and
    ``pix_fmt`` default to the container's choice (:func:`~colormnet.io.containers.plan_video`, which
    raises :class:`InputError` for impossible ones); ``plan`` is the result. The file is written as
    ``.<stem>.partial<ext>`` next to ``path`` and renamed on :meth:`close`; on an exception (including
    ``KeyboardInterrupt``) inside ``with`` it is deleted and no file named ``path`` appears.
    ``encoder_options`` go to FFmpeg (e.g. ``{"preset": "slow"}``); ``crf`` applies to x264/x265/VP9/AV1.
    ``trim_audio`` drops audio and subtitles after the end of the last written frame (partial runs).
    """

    def __init__(
        self,
        path: PathLike,
        info: VideoInfo,
        streams_from: PathLike | None = None,
        codec: str | None = None,
        crf: int | None = 18,
        pix_fmt: str | None = None,
        overwrite: bool = False,
        *,
        encoder_options: Mapping[str, str] | None = None,
        trim_audio: bool = False,
    ) -> None:
        self.path = check_output_path(path, inputs=(info.path, streams_from), overwrite=overwrite)
        self.info, self.overwrite, self.trim_audio = info, overwrite, trim_audio
        if streams_from is not None and not Path(streams_from).exists():
            raise InputError(f"stream source {streams_from} does not exist")
        self.plan: VideoPlan = plan_video(self.path, info.width, info.height, info.fps, info.time_base,
                                          codec, pix_fmt)
        for notice in self.plan.notices:
            log.warning("%s", notice)
        self.encoded_size = self.plan.size
        self._tmp = partial_file_path(self.path)
        self._out: av.container.OutputContainer | None = None
        self._copier: StreamCopier | None = None
        self._packets: Iterator[av.Packet] | None = None
        self.count, self._last_pts, self._pending, self._vfr_warned = 0, None, None, False
        # constant rate: frame i at (input start, in frames) + i
        self._cfr_start = 0 if self.plan.container.zero_start else \
            round(info.start_pts * info.time_base * self.plan.rate)
        try:
            self._open(crf, encoder_options, streams_from)
        except BaseException:
            self.abort()
            raise

    # -- setup -------------------------------------------------------------------------------------
    def _open(self, crf, encoder_options, streams_from) -> None:
        plan, info = self.plan, self.info
        try:
            out = self._out = av.open(str(self._tmp), mode="w", format=plan.container.name)
        except (ValueError, av.error.FFmpegError) as exc:
            raise OutputError(f"cannot create {self.path}: {exc}") from exc
        vs = self._vstream = out.add_stream(plan.codec, rate=plan.rate)
        (vs.width, vs.height), vs.pix_fmt, vs.time_base = plan.size, plan.pix_fmt, plan.time_base
        cc = vs.codec_context
        cc.time_base = plan.time_base
        if info.sample_aspect_ratio:
            cc.sample_aspect_ratio = info.sample_aspect_ratio
        fmt = av.VideoFormat(plan.pix_fmt)
        self._reformat_kw: dict = {}
        if len(fmt.components) >= 3 and not fmt.is_rgb and not plan.pix_fmt.startswith("yuvj"):
            self._reformat_kw = {"dst_colorspace": "ITU709", "dst_color_range": "MPEG"}
            cc.colorspace = cc.color_primaries = cc.color_trc = cc.color_range = 1  # BT.709, limited
        options = dict(encoder_options or {})
        if crf is not None and plan.codec in _CRF_CODECS:
            options.setdefault("crf", str(crf))
            if plan.codec == "libvpx-vp9":
                options.setdefault("b", "0")
        if plan.codec in QSCALE_CODECS and "b" not in options:
            cc.qscale = True
            cc.global_quality = _QSCALE * _QP2LAMBDA
        cc.options = options
        if streams_from is not None:
            same = info.path is not None and Path(streams_from).resolve() == info.path.resolve()
            video_index = info.video_index if same else None  # the colorized stream, not copied
            self._copier = StreamCopier(Path(streams_from), out, plan.container, video_index, self.path.name)
            if video_index is not None:
                src = self._copier.container.streams[video_index]
                copy_metadata(src.metadata, vs.metadata)
                vs.disposition = src.disposition
            self._packets = self._copier.packets()
        try:
            out.start_encoding()  # open every encoder and write the header now, before any frame is made
        except (ValueError, av.error.FFmpegError) as exc:
            raise OutputError(f"cannot start writing {self.path.name} ({plan.codec}, {plan.pix_fmt}, "
                              f"{plan.size[0]}x{plan.size[1]}): {exc}") from exc

    # -- writing -----------------------------------------------------------------------------------
    def _pump(self, until: float | None, end: float | None = None) -> None:
        """Mux queued packets of the copied streams starting before ``until`` s (all when None), none from
        ``end`` on."""
        while self._packets is not None:
            if self._pending is None:
                self._pending = next(self._packets, None)
                if self._pending is None:
                    self._packets = None
                    return
            pkt = self._pending
            t = float((pkt.pts if pkt.pts is not None else pkt.dts) * pkt.time_base)
            if end is not None and t >= end:
                self._pending = None
                continue  # later packets of other streams may still start before the end
            if until is not None and t > until:
                return
            self._out.mux(pkt)
            self._pending = None

    def _mux_video(self, packets) -> None:
        for pkt in packets:
            self._out.mux(pkt)
            if pkt.dts is not None:
                self._pump(until=float(pkt.dts * pkt.time_base))

    def _output_pts(self, pts: int | None) -> int:
        info, plan = self.info, self.plan
        nominal = info.start_pts + round(self.count / (info.fps * info.time_base))
        if plan.constant_rate:
            if pts is not None and not self._vfr_warned and \
                    abs(pts - nominal) * info.time_base > 1 / (2 * info.fps):
                self._vfr_warned = True
                log.warning("%s: the input has a variable frame rate (frame %d at %.3f s, %.3f s expected), but "
                            "%s with %s holds only a constant rate: frames are written at %g fps, the input's "
                            "average", self.path.name, self.count, float(pts * info.time_base),
                            float(nominal * info.time_base), plan.container.name, plan.codec, float(plan.rate))
            return self._cfr_start + self.count
        if pts is None:
            pts = nominal if self._last_pts is None else max(nominal, self._last_pts + 1)
        elif self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"pts must increase: got {pts} after {self._last_pts}")
        return int(pts)

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Encode one uint8 RGB frame (H, W, 3) of the input's size at ``pts`` (input time base).

        Without ``pts`` frames are spaced at the nominal frame rate from the input's start pts.
        """
        if self._out is None:
            raise RuntimeError("VideoWriter is closed")
        rgb = np.asarray(rgb)
        w, h = self.info.width, self.info.height
        if rgb.dtype != np.uint8 or rgb.shape != (h, w, 3):
            raise ValueError(f"expected uint8 RGB of shape {(h, w, 3)}, got {rgb.dtype} {rgb.shape}")
        out_pts = self._output_pts(pts)
        ew, eh = self.encoded_size
        if (ew, eh) != (w, h):
            rgb = np.pad(rgb, ((0, eh - h), (0, ew - w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(format=self._vstream.pix_fmt, **self._reformat_kw)
        frame.pts, frame.time_base = out_pts, self.plan.time_base
        frame.duration = 1 if self.plan.constant_rate else self.info.frame_duration_pts  # the last frame's
        try:
            self._mux_video(self._vstream.encode(frame))
        except av.error.FFmpegError as exc:
            raise OutputError(f"writing frame {self.count} to {self.path} failed: {exc}") from exc
        self.count, self._last_pts = self.count + 1, out_pts

    def close(self) -> Path:
        """Flush encoders, finish the copied streams, and move the file into place; returns the final path."""
        if self._out is None:
            return self.path
        try:
            if self.count == 0:
                raise OutputError(f"no frames were written to {self.path}; nothing saved")
            self._mux_video(self._vstream.encode(None))
            step = 1 if self.plan.constant_rate else self.info.frame_duration_pts
            end = (self._last_pts + step) * self.plan.time_base
            self._pump(until=None, end=float(end) if self.trim_audio else None)
            self._out.close()
            self._out = None
        except av.error.FFmpegError as exc:
            self.abort()
            raise OutputError(f"writing {self.path} failed: {exc}") from exc
        except BaseException:
            self.abort()
            raise
        self._close_copier()
        return commit_file(self._tmp, self.path, overwrite=self.overwrite)

    def _close_copier(self) -> None:
        self._packets = self._pending = None
        if self._copier is not None:
            self._copier.close()
            self._copier = None

    def abort(self) -> None:
        """Stop and delete the partial file; the final path is never created."""
        out, self._out = self._out, None
        if out is not None:
            try:
                out.close()
            except Exception as exc:  # closing a half-written container may fail; the file goes anyway
                log.debug("closing partial output %s: %s", self._tmp, exc)
        self._close_copier()
        remove_quietly(self._tmp)
