"""Carry everything of an input video except the colorized picture into the output container.

What is kept (when the output container can hold it) and what is dropped, with a notice each:

- every audio track: copied packet by packet; a codec the container cannot hold is re-encoded to the
  container's audio encoder (AAC, Opus, MP3 or MP2, see :mod:`colormnet.io.containers`);
- subtitle tracks: copied when the container holds their codec (e.g. SubRip/ASS in .mkv, mov_text in
  .mp4/.mov, WebVTT in .webm); otherwise dropped (they are not converted);
- attachments (fonts of .mkv files): copied into .mkv;
- other video tracks and cover art, data tracks (timecode, GPS, ...): dropped (only the first video
  stream is colorized);
- chapters, container metadata (title, creation_time, ...) and per-stream metadata (language, title)
  and dispositions (default, forced, ...): copied; each format stores what its muxer supports.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path

import av

from colormnet.io.containers import ContainerSpec

log = logging.getLogger(__name__)

# tags the muxer writes itself, or that describe the old encoding (Matroska's statistics tags)
_DERIVED_TAGS = frozenset({"encoder", "major_brand", "minor_version", "compatible_brands", "duration", "rotate",
                           "bps", "number_of_frames", "number_of_bytes", "_statistics_writing_app",
                           "_statistics_writing_date_utc", "_statistics_tags"})


def _keep_tag(key: str) -> bool:
    k = key.lower()
    return k not in _DERIVED_TAGS and not k.startswith(("duration-", "bps-", "number_of_", "_statistics"))


def copy_metadata(src: Mapping[str, str], dst: MutableMapping[str, str]) -> None:
    """Copy descriptive tags (title, language, creation_time, ...) but not encoding statistics."""
    for key, value in src.items():
        if _keep_tag(key):
            dst[key] = value


def _codec_name(stream: av.stream.Stream) -> str | None:
    cc = stream.codec_context
    return cc.codec.canonical_name if cc is not None and cc.codec is not None else None


def _supported_rate(encoder: str, rate: int) -> int:
    """``rate`` if the encoder takes it, else the nearest higher rate it takes (else its highest)."""
    rates = sorted(av.Codec(encoder, "w").audio_rates or ())
    if not rates or rate in rates:
        return rate
    return next((r for r in rates if r >= rate), rates[-1])


def _encoder_takes(encoder: str, rate: int, layout) -> bool:
    """Whether the audio encoder opens with this rate and channel layout (MP2/MP3 stop at stereo)."""
    enc = av.Codec(encoder, "w")
    try:
        cc = av.CodecContext.create(encoder, "w")
        cc.sample_rate, cc.layout = rate, layout
        cc.format = enc.audio_formats[0] if enc.audio_formats else "s16"
        cc.open()
    except (ValueError, av.error.FFmpegError):
        return False
    return True


def _describe(stream: av.stream.Stream) -> str:
    lang = stream.metadata.get("language")
    return f"stream #{stream.index} ({stream.type}, {_codec_name(stream) or 'no codec'}" + \
        (f", {lang})" if lang else ")")


class StreamCopier:
    """Adds the kept streams of ``source`` to ``out`` and yields their packets (see module docstring).

    Create it after the output's video stream and before the first packet is muxed.
    ``video_index`` is the input stream being colorized (None: ``source`` is another file, e.g. a sound
    track, whose video streams are dropped). ``kept`` and ``dropped`` list what happened
    (each dropped entry says why); both are logged.
    """

    def __init__(self, source: Path, out: av.container.OutputContainer, spec: ContainerSpec,
                 video_index: int | None, out_name: str) -> None:
        self.source = source
        # a constant-rate container (AVI) has no start offsets: a track starting before 0 (audio
        # priming) would push the video back by whole frames, so such a track is shifted to start at 0
        self._shift_negative = spec.zero_start
        self._shift: dict[int, int] = {}
        self.container = av.open(str(source))
        self.kept: list[str] = []
        self.dropped: list[str] = []
        self._copy: dict[int, av.stream.Stream] = {}
        self._encode: dict[int, av.audio.stream.AudioStream] = {}
        for st in self.container.streams:
            if st.index == video_index:
                continue
            try:
                self._add(st, out, spec)
            except (ValueError, av.error.FFmpegError) as exc:
                self.dropped.append(f"{_describe(st)}: {out.format.name} refused it ({exc})")
        chapters = self.container.chapters()
        if chapters and spec.chapters:
            out.set_chapters(chapters)
            self.kept.append(f"{len(chapters)} chapters")
        elif chapters:
            self.dropped.append(f"{len(chapters)} chapters: {out.format.name} files cannot hold chapters")
        copy_metadata(self.container.metadata, out.metadata)
        for text in self.kept:
            log.info("%s: copied %s from %s", out_name, text, source.name)
        for text in self.dropped:
            log.warning("%s: not copied from %s: %s", out_name, source.name, text)

    def _add(self, st: av.stream.Stream, out: av.container.OutputContainer, spec: ContainerSpec) -> None:
        name = _codec_name(st)
        if st.type == "video":
            what = "cover art" if st.disposition & av.stream.Disposition.attached_pic else "another video track"
            self.dropped.append(f"{_describe(st)}: {what}; only the first video stream is colorized")
            return
        if st.type == "attachment":
            if out.format.name != "matroska":
                self.dropped.append(f"{_describe(st)}: only .mkv files hold attachments")
                return
            self._template(st, out)
            return
        if st.type not in ("audio", "subtitle") or name is None:
            self.dropped.append(f"{_describe(st)}: {st.type} streams are not copied")
            return
        if spec.holds(name, st.type):
            self._copy[st.index] = self._template(st, out)
            self.kept.append(_describe(st))
            return
        if st.type == "subtitle":
            self.dropped.append(f"{_describe(st)}: {out.format.name} files cannot hold {name} subtitles "
                                "(they are not converted)")
            return
        target = spec.audio_encoder
        if target not in av.codecs_available:
            self.dropped.append(f"{_describe(st)}: {out.format.name} cannot hold {name} and this FFmpeg "
                                f"build has no {target} encoder to convert it")
            return
        cc = st.codec_context
        a_out = out.add_stream(target, rate=_supported_rate(target, cc.sample_rate))
        layout = cc.layout
        if "channel" in layout.name:  # unnamed channel order (e.g. WAV without mask): use the usual one
            layout = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(layout.nb_channels, "stereo")
        if not _encoder_takes(target, a_out.codec_context.sample_rate, layout):
            log.info("%s: %s cannot encode %s audio; downmixing to stereo", out.format.name, target,
                     getattr(layout, "name", layout))
            layout = "stereo"
        a_out.layout = layout
        copy_metadata(st.metadata, a_out.metadata)
        a_out.disposition = st.disposition
        self._encode[st.index] = a_out
        self.kept.append(f"{_describe(st)} re-encoded to {target} ({out.format.name} cannot hold {name})")

    @staticmethod
    def _template(st: av.stream.Stream, out: av.container.OutputContainer) -> av.stream.Stream:
        o = out.add_stream_from_template(st)
        copy_metadata(st.metadata, o.metadata)
        o.disposition = st.disposition
        return o

    def packets(self) -> Iterator[av.Packet]:
        """Packets for the output, roughly in file (time) order; re-encoders are flushed at the end."""
        selected = [self.container.streams[i] for i in (*self._copy, *self._encode)]
        if not selected:
            return
        try:
            for pkt in self.container.demux(selected):
                idx = pkt.stream.index
                if idx in self._copy:
                    if pkt.size == 0 or (pkt.dts is None and pkt.pts is None):
                        continue
                    if self._shift_negative:
                        self._shift_to_zero(pkt)
                    pkt.stream = self._copy[idx]
                    yield pkt
                else:
                    for frame in pkt.decode():
                        yield from self._encode[idx].encode(frame)
        except av.error.FFmpegError as exc:
            log.warning("%s could not be read to the end (%s); the rest of its audio/subtitles is dropped",
                        self.source, exc)
        for a_out in self._encode.values():
            yield from a_out.encode(None)

    def _shift_to_zero(self, pkt: av.Packet) -> None:
        first = pkt.dts if pkt.dts is not None else pkt.pts
        shift = self._shift.setdefault(pkt.stream.index, max(0, -first))
        if shift:
            if pkt.pts is not None:
                pkt.pts += shift
            if pkt.dts is not None:
                pkt.dts += shift

    def close(self) -> None:
        self.container.close()
