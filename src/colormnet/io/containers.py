"""Output containers: which file suffixes are written, each one's defaults, and the plan for one output.

Decided per container (README "Colorizing" repeats this table):

============  ========  ======================  ==================================  ============
suffix        muxer     default video encoder   timestamps                          audio [#]_
============  ========  ======================  ==================================  ============
.mp4 .m4v     mp4       libx264                 input's, exactly (input time base)  aac
.mov          mov       libx264                 input's, exactly                    aac
.mkv          matroska  libx264                 input's, to 1 ms (Matroska's unit)  aac
.webm         webm      libvpx-vp9 [#]_         input's, to 1 ms                    libopus
.ts           mpegts    libx264                 input's, to 1/90000 s               aac
.avi          avi       mpeg4                   constant rate: time base 1/fps      libmp3lame
.mpg .mpeg    mpeg      mpeg2video              constant rate: time base 1/fps      mp2
============  ========  ======================  ==================================  ============

.. [#] the encoder used for an audio track whose codec the container cannot hold (others are copied).
.. [#] else the first available of libsvtav1, libaom-av1, libvpx (VP8).

A constant-rate container (or an encoder that only takes a frame-rate time base, like MPEG-2) gets
frames at the input's average rate; a variable-rate input then loses its timestamps (a warning says
so when it happens). ``.gif`` is refused (256 colours and 1/100 s frame times would lose colour and
timing); any other unknown suffix is an error rather than a folder named ``out.xyz``.

The pixel format defaults to ``yuv420p``. When the frame size is odd and the encoder cannot store
4:2:0 at that size (H.264, HEVC, MPEG-4), the first 4:4:4 / 4:2:2 / RGB format it takes that keeps the
exact size is used instead, with a notice. An explicitly requested format that cannot hold the size
is honoured by padding one replicated row/column (notice). Everything is checked by opening the
encoder with the real size, format and time base, so an impossible combination is reported before
any model is loaded.
"""

from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from colormnet.errors import InputError

PathLike = str | os.PathLike


@dataclass(frozen=True)
class ContainerSpec:
    """One writable container. ``*_codecs``: codec ids it holds when FFmpeg's own table is incomplete
    (None = ask FFmpeg); ``chapters``: whether its muxer stores chapters."""

    name: str  # FFmpeg muxer
    video_encoders: tuple[str, ...]  # default video encoder: the first this build has
    audio_encoder: str  # for audio tracks whose codec the container cannot hold
    constant_rate: bool = False
    zero_start: bool = False  # no start offsets (AVI): the video starts at 0 whatever the input's start
    chapters: bool = True
    video_codecs: frozenset[str] | None = None
    audio_codecs: frozenset[str] | None = None
    subtitle_codecs: frozenset[str] | None = None

    def holds(self, codec_id: str, kind: str) -> bool:
        """Whether the container can store a ``kind`` ("video"/"audio"/"subtitle") stream of ``codec_id``."""
        table = {"video": self.video_codecs, "audio": self.audio_codecs, "subtitle": self.subtitle_codecs}.get(kind)
        if table is not None:
            return codec_id in table
        return codec_id in _ffmpeg_codecs(self.name)


_MP4 = ContainerSpec("mp4", ("libx264",), "aac")
CONTAINERS: dict[str, ContainerSpec] = {
    ".mp4": _MP4,
    ".m4v": _MP4,
    ".mov": ContainerSpec("mov", ("libx264",), "aac"),
    ".mkv": ContainerSpec("matroska", ("libx264",), "aac"),
    ".webm": ContainerSpec("webm", ("libvpx-vp9", "libsvtav1", "libaom-av1", "libvpx"), "libopus"),
    # FFmpeg's codec query knows only the defaults of these two muxers; what they hold is listed here
    ".ts": ContainerSpec("mpegts", ("libx264",), "aac", chapters=False,
                         video_codecs=frozenset({"h264", "hevc", "mpeg2video", "mpeg1video"}),
                         audio_codecs=frozenset({"aac", "mp2", "mp3", "ac3", "eac3", "opus"}),
                         subtitle_codecs=frozenset({"dvb_subtitle"})),
    ".avi": ContainerSpec("avi", ("mpeg4",), "libmp3lame", constant_rate=True, zero_start=True, chapters=False,
                          subtitle_codecs=frozenset()),
    ".mpg": ContainerSpec("mpeg", ("mpeg2video",), "mp2", constant_rate=True, chapters=False,
                          video_codecs=frozenset({"mpeg2video", "mpeg1video"}),
                          audio_codecs=frozenset({"mp2", "mp3", "ac3"}),
                          subtitle_codecs=frozenset({"dvd_subtitle"})),
}
CONTAINERS[".mpeg"] = CONTAINERS[".mpg"]

REFUSED: dict[str, str] = {
    ".gif": "GIF stores 256 colours and frame times in 1/100 s, so colour and timing would be lost; "
            "write .mp4 or .webm (and convert with ffmpeg if you need a GIF)",
}
for _ext in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"):
    REFUSED[_ext] = "an output is a video or a folder of PNG frames; for frames give a folder name (e.g. out/)"

# pixel formats tried, in order, when the default (the first) cannot hold the frame size
_PIX_FMT_PREFERENCE = ("yuv420p", "yuv444p", "yuv422p", "yuv440p", "gbrp", "rgb24", "bgr0")
QSCALE_CODECS = frozenset({"mpeg4", "mpeg2video", "mpeg1video"})  # quality by fixed quantizer, not CRF


def suffix_list() -> str:
    return " ".join(sorted(CONTAINERS))


def output_container(path: PathLike) -> ContainerSpec | None:
    """The container for output ``path``, or None for a folder of frames.

    A folder is meant when the name has no suffix, ends with a path separator, or is an existing
    folder. A refused or unknown suffix raises :class:`InputError` (never a folder named ``out.gif``).
    """
    text = os.fspath(path)
    p = Path(text)
    if text.endswith(("/", os.sep)) or p.is_dir() or not p.suffix:
        return None
    ext = p.suffix.lower()
    if ext in CONTAINERS:
        return CONTAINERS[ext]
    if ext in REFUSED:
        raise InputError(f"-o/--output {p.name}: {REFUSED[ext]}")
    raise InputError(f"-o/--output {p.name}: unknown video suffix {p.suffix!r}; use one of "
                     f"{suffix_list()}, or a folder name without a suffix (or ending in '/') for PNG frames")


@functools.cache
def _ffmpeg_codecs(muxer: str) -> frozenset[str]:
    with av.open(io.BytesIO(), "w", format=muxer) as probe:
        return frozenset(probe.supported_codecs)


def _video_encoder(name: str) -> av.Codec | None:
    try:
        enc = av.Codec(name, "w")
    except (ValueError, av.error.FFmpegError):
        return None
    return enc if enc.type == "video" else None


def _video_encoders_for(spec: ContainerSpec) -> list[str]:
    """Some encoders of this build the container holds (for messages)."""
    names = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1", "libvpx", "mpeg4", "mpeg2video",
             "mpeg1video", "ffv1", "prores_ks", "mjpeg")
    found = []
    for n in names:
        enc = _video_encoder(n)
        if enc is not None and spec.holds(enc.canonical_name, "video"):
            found.append(n)
    return found


@functools.cache
def encoder_opens(codec: str, width: int, height: int, pix_fmt: str, time_base: Fraction, rate: Fraction) -> bool:
    """Whether ``codec`` accepts this size, pixel format and time base (tried by opening it)."""
    try:
        cc = av.CodecContext.create(codec, "w")
        cc.width, cc.height, cc.pix_fmt = width, height, pix_fmt
        cc.time_base, cc.framerate = time_base, rate
        cc.open()
    except (ValueError, av.error.FFmpegError):
        return False
    return True


@dataclass(frozen=True)
class VideoPlan:
    """How one video output is encoded (see the module docstring for the choices)."""

    container: ContainerSpec
    codec: str  # encoder name
    pix_fmt: str
    size: tuple[int, int]  # encoded (w, h): the frame size, or one more on an odd side when padding
    rate: Fraction  # frame rate (the input's average)
    time_base: Fraction  # encoder and stream time base
    constant_rate: bool  # pts are frame indices (time base 1/rate); the input's timestamps are not kept
    notices: tuple[str, ...] = ()


def check_pix_fmt(pix_fmt: str) -> None:
    try:
        av.VideoFormat(pix_fmt)
    except (ValueError, av.error.FFmpegError):
        raise InputError(f"--pix-fmt {pix_fmt}: unknown pixel format (e.g. yuv420p, yuv444p, yuv420p10le)") \
            from None


def plan_video(path: PathLike, width: int, height: int, rate: Fraction, time_base: Fraction,
               codec: str | None = None, pix_fmt: str | None = None) -> VideoPlan:
    """Choose codec, pixel format, size and time base for writing ``width`` x ``height`` frames at
    ``rate`` (input time base ``time_base``) to ``path``.

    Raises :class:`InputError` (naming ``-o``, ``--codec`` or ``--pix-fmt``) for an unknown suffix, an
    encoder this build lacks, a codec the container cannot hold, an unknown or unsupported pixel format,
    or a size / frame rate the encoder refuses. Cheap: no frame is encoded.
    """
    p = Path(path)
    spec = output_container(p)
    if spec is None:
        raise InputError(f"-o/--output {p}: not a video file name (suffixes: {suffix_list()})")
    notices: list[str] = []
    if codec is None:
        codec = next((c for c in spec.video_encoders if _video_encoder(c) is not None), None)
        if codec is None:
            raise InputError(f"-o/--output {p.name}: this FFmpeg build has none of the encoders for "
                             f"{p.suffix} files ({', '.join(spec.video_encoders)}); choose another suffix")
    enc = _video_encoder(codec)
    if enc is None:
        raise InputError(f"--codec {codec}: this FFmpeg build has no video encoder of that name; for "
                         f"{p.name} try {', '.join(_video_encoders_for(spec)) or 'another suffix'}")
    codec = enc.name
    codec_id = enc.canonical_name  # the codec, not the encoder: libx264 -> h264
    if not spec.holds(codec_id, "video"):
        raise InputError(f"--codec {codec}: {p.suffix} files ({p.name}) cannot hold {codec_id} video; use "
                         f"{', '.join(_video_encoders_for(spec))} (or another output suffix)")
    supported = {f.name for f in enc.video_formats} if enc.video_formats else None
    if pix_fmt is not None:
        check_pix_fmt(pix_fmt)
        if supported is not None and pix_fmt not in supported:
            raise InputError(f"--pix-fmt {pix_fmt}: encoder {codec} (for {p.name}) does not take it; it takes "
                             f"{', '.join(sorted(supported))}")
        candidates = [pix_fmt]
    else:
        candidates = [f for f in _PIX_FMT_PREFERENCE if supported is None or f in supported]
        if not candidates:
            candidates = [enc.video_formats[0].name]
    rate = Fraction(rate)
    fixed = Fraction(1) / rate
    time_bases = [fixed] if spec.constant_rate else [Fraction(time_base), fixed]

    def first_opening(w: int, h: int, fmts: list[str]) -> tuple[str, Fraction] | None:
        for f in fmts:
            for tb in time_bases:
                if encoder_opens(codec, w, h, f, tb, rate):
                    return f, tb
        return None

    size = (width, height)
    found = first_opening(width, height, candidates[:1])
    if found is None and pix_fmt is None:
        found = first_opening(width, height, candidates[1:])
        if found is not None:
            notices.append(f"{p.name}: {codec} cannot store {width}x{height} (an odd side) in {candidates[0]}; "
                           f"using {found[0]} to keep the exact size (some players, e.g. browsers, do not play "
                           f"it; pass --pix-fmt {candidates[0]} to pad to an even size instead)")
    if found is None:
        padded = (width + width % 2, height + height % 2)
        found = first_opening(*padded, candidates[:1]) if padded != size else None
        if found is None:
            raise InputError(f"--codec {codec}: the encoder refuses {width}x{height} frames at {float(rate):g} "
                             f"fps in {', '.join(candidates[:3])} for {p.name}; choose another --codec/--pix-fmt "
                             f"or output suffix (.mkv with libx264 takes almost any size and rate)")
        size = padded
        notices.append(f"{p.name}: {found[0]} with {codec} needs an even size; {width}x{height} frames are "
                       f"padded (edge pixels repeated) to {padded[0]}x{padded[1]}. Use --pix-fmt yuv444p "
                       "(pix_fmt='yuv444p') to keep the exact size.")
    chosen, tb = found
    return VideoPlan(spec, codec, chosen, size, rate, tb, constant_rate=tb == fixed and
                     (spec.constant_rate or tb != Fraction(time_base)), notices=tuple(notices))
