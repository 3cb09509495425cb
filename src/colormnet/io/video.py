"""Video files with PyAV: probe, stream-decode to RGB, stream-encode from RGB keeping timing and audio.

Nothing here holds more than a few frames in memory.

Writer choices (documented here because they change what the user gets):

- Frames are converted from RGB with the BT.709 matrix, limited ("TV") range, and the stream is tagged
  BT.709 so players decode with the same matrix (an untagged stream would be guessed differently by
  different players). Decoding uses the tags of the input (PyAV's default).
- Chroma-subsampled pixel formats (the default ``yuv420p``, needed for broad player support) need an
  even width/height with libx264. An odd-sized input is padded by one replicated row/column to the
  next even size (logged as a warning); pass ``pix_fmt="yuv444p"`` to keep the exact size instead
  (less widely playable).
- Timing: the output stream gets the input's frame rate and time base, and each frame the pts passed
  to :meth:`VideoWriter.write` (the pts of the decoded input frame), so frame count, timing and
  audio sync match the input. Containers that impose their own time base (Matroska: 1/1000) keep
  the timing up to that resolution.
- Audio: the first audio stream of ``audio_from`` is copied packet by packet (no re-encoding) and
  interleaved with the video. When the output container cannot hold that codec it is re-encoded to
  AAC (or Opus for WebM).
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

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

_CRF_CODECS = frozenset({"libx264", "libx264rgb", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"})


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video (sizes in pixels, times in seconds)."""

    path: Path | None
    width: int
    height: int
    fps: Fraction  # average frame rate
    time_base: Fraction  # unit of the pts values
    num_frames: int  # from the container when it knows it, else counted by demuxing
    duration: float
    pix_fmt: str
    is_color: bool  # False for gray/mono pixel formats; yuv with chroma planes counts as colour
    codec: str
    has_audio: bool
    audio_codec: str | None
    start_pts: int = 0
    sample_aspect_ratio: Fraction | None = None

    @classmethod
    def for_size(cls, width: int, height: int, fps: Fraction | int | float = 25) -> VideoInfo:
        """Description for writing a video that has no input video (e.g. from a frame folder)."""
        rate = Fraction(fps).limit_denominator(1001 * 1000)
        return cls(path=None, width=width, height=height, fps=rate, time_base=1 / rate, num_frames=0,
                   duration=0.0, pix_fmt="rgb24", is_color=True, codec="", has_audio=False, audio_codec=None)

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
        raise InputError(f"{p} is not a video FFmpeg can read ({exc})") from exc


def _video_stream(container: av.container.InputContainer, path: PathLike) -> av.video.stream.VideoStream:
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:  # skip cover art
            return stream
    raise InputError(f"{path} has no video stream")


def _pix_fmt_is_color(pix_fmt: str) -> bool:
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, av.error.FFmpegError):
        return True
    return fmt.has_palette or len(fmt.components) >= 3


def probe(path: PathLike) -> VideoInfo:
    """Describe a video file; :class:`InputError` when it is missing, unreadable or has no frames."""
    p = Path(path)
    with _open_input(p) as container:
        stream = _video_stream(container, p)
        cc = stream.codec_context
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not fps:
            raise InputError(f"{p}: the frame rate of the video stream is unknown")
        time_base = stream.time_base or 1 / Fraction(fps)
        num_frames = stream.frames
        if num_frames <= 0:  # container does not store it (Matroska, WebM, raw streams): count packets
            num_frames = sum(1 for pkt in container.demux(stream) if pkt.size > 0)
        if num_frames <= 0:
            raise InputError(f"{p} contains no video frames")
        if stream.duration:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = float(num_frames / Fraction(fps))
        pix_fmt = cc.pix_fmt or (stream.format.name if stream.format else None) or "unknown"
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            path=p, width=cc.width, height=cc.height, fps=Fraction(fps), time_base=Fraction(time_base),
            num_frames=num_frames, duration=duration, pix_fmt=pix_fmt, is_color=_pix_fmt_is_color(pix_fmt),
            codec=cc.name, has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            start_pts=stream.start_time or 0,
            sample_aspect_ratio=Fraction(cc.sample_aspect_ratio) if cc.sample_aspect_ratio else None,
        )


class VideoReader:
    """Stream the frames of a video as :class:`DecodedFrame` (uint8 RGB via ``to_ndarray("rgb24")``).

    ``with VideoReader(p) as r: for f in r: ...``. Each iteration decodes from the start. Raises
    :class:`InputError` for a missing/unreadable file, no video stream, a decoding failure or when
    no frame at all could be decoded. Rotation metadata is not applied (a warning says so).
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self.info = probe(self.path)
        self._container: av.container.InputContainer | None = None

    def __len__(self) -> int:
        return self.info.num_frames

    def __iter__(self) -> Iterator[DecodedFrame]:
        self.close()
        container = self._container = _open_input(self.path)
        info, n = self.info, 0
        try:
            stream = _video_stream(container, self.path)
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if frame.width != info.width or frame.height != info.height:
                    raise InputError(f"{self.path}: frame {n} is {frame.width}x{frame.height}, the video "
                                     f"started at {info.width}x{info.height}; size changes are not supported")
                if n == 0 and getattr(frame, "rotation", 0):
                    log.warning("%s asks to be displayed rotated by %s degrees; frames are processed and "
                                "written as stored, without the rotation", self.path, frame.rotation)
                pts = frame.pts if frame.pts is not None else info.start_pts + n * info.frame_duration_pts
                yield DecodedFrame(n, pts, float(pts * info.time_base), frame.to_ndarray(format="rgb24"))
                n += 1
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.path}: decoding failed after {n} frames ({exc})") from exc
        finally:
            container.close()
            if self._container is container:
                self._container = None
        if n == 0:
            raise InputError(f"{self.path}: no frame could be decoded; the file may be damaged")

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def _encoder(codec: str) -> av.Codec:
    try:
        enc = av.Codec(codec, "w")
    except (ValueError, av.error.FFmpegError) as exc:
        raise OutputError(f"video encoder {codec!r} is not available in this FFmpeg build") from exc
    if enc.type != "video":
        raise OutputError(f"{codec!r} is not a video encoder")
    return enc


class VideoWriter(AtomicOutput):
    """Encode uint8 RGB frames one by one into ``path``, atomically, copying audio from ``audio_from``.

    ``info`` describes the input (its size, frame rate and time base are reused). The file is written as
    ``.<stem>.partial<ext>`` next to ``path`` and renamed on :meth:`close`; on an exception (including
    ``KeyboardInterrupt``) inside ``with`` it is deleted and no file named ``path`` appears.
    ``encoder_options`` go to FFmpeg (e.g. ``{"preset": "slow"}``); ``crf`` applies to x264/x265/VP9/AV1.
    ``trim_audio`` drops audio after the end of the last written frame (for partial runs).
    """

    def __init__(
        self,
        path: PathLike,
        info: VideoInfo,
        audio_from: PathLike | None = None,
        codec: str = "libx264",
        crf: int | None = 18,
        pix_fmt: str = "yuv420p",
        overwrite: bool = False,
        *,
        encoder_options: Mapping[str, str] | None = None,
        trim_audio: bool = False,
    ) -> None:
        self.path = check_output_path(path, inputs=(info.path, audio_from), overwrite=overwrite)
        self.info, self.overwrite, self.trim_audio = info, overwrite, trim_audio
        enc = _encoder(codec)
        try:
            fmt = av.VideoFormat(pix_fmt, 2, 2)
        except (ValueError, av.error.FFmpegError) as exc:
            raise OutputError(f"unknown pixel format {pix_fmt!r}") from exc
        if enc.video_formats and pix_fmt not in {f.name for f in enc.video_formats}:
            raise OutputError(f"encoder {codec} cannot take pixel format {pix_fmt}")
        if audio_from is not None and not Path(audio_from).exists():
            raise InputError(f"audio source {audio_from} does not exist")
        sub_w = any(c.is_chroma and c.width < 2 for c in fmt.components)
        sub_h = any(c.is_chroma and c.height < 2 for c in fmt.components)
        self.encoded_size = (info.width + (info.width % 2 if sub_w else 0),
                             info.height + (info.height % 2 if sub_h else 0))
        if self.encoded_size != (info.width, info.height):
            log.warning("%s: %s needs even sizes; %dx%d frames are padded (edge pixels repeated) to %dx%d. "
                        "Use pix_fmt yuv444p to keep the exact size.", self.path.name, pix_fmt,
                        info.width, info.height, *self.encoded_size)
        self._tmp = partial_file_path(self.path)
        self._out: av.container.OutputContainer | None = None
        self._audio_in: av.container.InputContainer | None = None
        self._audio_packets: Iterator[av.Packet] | None = None
        self.count, self._last_pts, self._pending = 0, None, None
        try:
            self._open(enc, pix_fmt, fmt, crf, encoder_options, audio_from)
        except BaseException:
            self.abort()
            raise

    # -- setup -------------------------------------------------------------------------------------
    def _open(self, enc, pix_fmt, fmt, crf, encoder_options, audio_from) -> None:
        try:
            out = self._out = av.open(str(self._tmp), mode="w")
        except (ValueError, av.error.FFmpegError) as exc:
            raise OutputError(f"cannot write a video named {self.path.name}: unknown container for "
                              f"extension {self.path.suffix!r} ({exc}); use .mp4 or .mkv") from exc
        if enc.canonical_name not in out.supported_codecs:
            raise OutputError(f"the {out.format.name} container of {self.path.name} cannot hold {enc.name} "
                              "video; choose another codec or extension")
        info = self.info
        vs = self._vstream = out.add_stream(enc.name, rate=info.fps)
        (vs.width, vs.height), vs.pix_fmt, vs.time_base = self.encoded_size, pix_fmt, info.time_base
        cc = vs.codec_context
        cc.time_base = info.time_base
        if info.sample_aspect_ratio:
            cc.sample_aspect_ratio = info.sample_aspect_ratio
        self._reformat_kw: dict = {}
        if len(fmt.components) >= 3 and not fmt.is_rgb and not pix_fmt.startswith("yuvj"):
            self._reformat_kw = {"dst_colorspace": "ITU709", "dst_color_range": "MPEG"}
            cc.colorspace = cc.color_primaries = cc.color_trc = cc.color_range = 1  # BT.709, limited
        options = dict(encoder_options or {})
        if crf is not None and enc.name in _CRF_CODECS:
            options.setdefault("crf", str(crf))
            if enc.name == "libvpx-vp9":
                options.setdefault("b", "0")
        cc.options = options
        if audio_from is not None:
            self._setup_audio(Path(audio_from))

    def _setup_audio(self, src: Path) -> None:
        out = self._out
        ain = self._audio_in = _open_input(src)
        if not ain.streams.audio:
            log.info("%s has no audio stream; the output has no sound", src)
            return
        a_in = ain.streams.audio[0]
        name = a_in.codec_context.codec.canonical_name
        if name in out.supported_codecs:
            a_out = out.add_stream_from_template(a_in)
            self._audio_packets = self._copied_packets(a_in, a_out)
            return
        target = next((c for c, tag in (("aac", "aac"), ("libopus", "opus")) if tag in out.supported_codecs
                       and c in av.codecs_available), None)
        if target is None:
            raise OutputError(f"the {out.format.name} container of {self.path.name} can take neither the "
                              f"{name} audio of {src} nor AAC/Opus; use .mp4 or .mkv")
        log.warning("%s: %s audio cannot be stored in %s; re-encoding it to %s",
                    src.name, name, out.format.name, target)
        rate = a_in.codec_context.sample_rate
        if target == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
            rate = 48000
        a_out = out.add_stream(target, rate=rate)
        layout = a_in.codec_context.layout
        if "channel" in layout.name:  # unnamed channel order (e.g. WAV without mask): use the usual one
            layout = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(layout.nb_channels, "stereo")
        a_out.layout = layout
        self._audio_packets = self._reencoded_packets(a_in, a_out)

    def _copied_packets(self, a_in, a_out) -> Iterator[av.Packet]:
        for pkt in self._audio_in.demux(a_in):
            if pkt.dts is None or pkt.size == 0:
                continue
            pkt.stream = a_out
            yield pkt

    def _reencoded_packets(self, a_in, a_out) -> Iterator[av.Packet]:
        try:
            for pkt in self._audio_in.demux(a_in):
                for frame in pkt.decode():
                    yield from a_out.encode(frame)
        except av.error.FFmpegError as exc:
            log.warning("audio of %s could not be fully decoded (%s); the rest is dropped",
                        self._audio_in.name, exc)
        yield from a_out.encode(None)

    # -- writing -----------------------------------------------------------------------------------
    def _pump_audio(self, until: float | None, end: float | None = None) -> None:
        """Mux queued audio packets starting before ``until`` s (all when None), none from ``end`` on."""
        while self._audio_packets is not None:
            if self._pending is None:
                self._pending = next(self._audio_packets, None)
                if self._pending is None:
                    self._audio_packets = None
                    return
            pkt = self._pending
            t = float((pkt.pts if pkt.pts is not None else pkt.dts) * pkt.time_base)
            if end is not None and t >= end:
                self._audio_packets = self._pending = None
                return
            if until is not None and t > until:
                return
            self._out.mux(pkt)
            self._pending = None

    def _mux_video(self, packets) -> None:
        for pkt in packets:
            self._out.mux(pkt)
            if pkt.dts is not None:
                self._pump_audio(until=float(pkt.dts * pkt.time_base))

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
        if pts is None:
            pts = self.info.start_pts + round(self.count / (self.info.fps * self.info.time_base))
            if self._last_pts is not None:
                pts = max(pts, self._last_pts + 1)
        elif self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"pts must increase: got {pts} after {self._last_pts}")
        ew, eh = self.encoded_size
        if (ew, eh) != (w, h):
            rgb = np.pad(rgb, ((0, eh - h), (0, ew - w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(format=self._vstream.pix_fmt, **self._reformat_kw)
        frame.pts, frame.time_base = int(pts), self.info.time_base
        frame.duration = self.info.frame_duration_pts  # the muxer uses it for the last frame's duration
        try:
            self._mux_video(self._vstream.encode(frame))
        except av.error.FFmpegError as exc:
            raise OutputError(f"writing frame {self.count} to {self.path} failed: {exc}") from exc
        self.count, self._last_pts = self.count + 1, int(pts)

    def close(self) -> Path:
        """Flush encoders, finish the audio, and move the file into place; returns the final path."""
        if self._out is None:
            return self.path
        try:
            if self.count == 0:
                raise OutputError(f"no frames were written to {self.path}; nothing saved")
            self._mux_video(self._vstream.encode(None))
            end = (self._last_pts + self.info.frame_duration_pts) * self.info.time_base
            self._pump_audio(until=None, end=float(end) if self.trim_audio else None)
            self._out.close()
            self._out = None
        except av.error.FFmpegError as exc:
            self.abort()
            raise OutputError(f"writing {self.path} failed: {exc}") from exc
        except BaseException:
            self.abort()
            raise
        self._close_audio()
        return commit_file(self._tmp, self.path, overwrite=self.overwrite)

    def _close_audio(self) -> None:
        self._audio_packets = self._pending = None
        if self._audio_in is not None:
            self._audio_in.close()
            self._audio_in = None

    def abort(self) -> None:
        """Stop and delete the partial file; the final path is never created."""
        out, self._out = self._out, None
        if out is not None:
            try:
                out.close()
            except Exception as exc:  # closing a half-written container may fail; the file goes anyway
                log.debug("closing partial output %s: %s", self._tmp, exc)
        self._close_audio()
        remove_quietly(self._tmp)

