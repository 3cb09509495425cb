"""One colorization job of the web app: input preparation, a worker thread around
:func:`colormnet.api.colorize_video`, progress (frames, fps, ETA), preview frames and cancel.

Nothing here imports Gradio, so it is tested directly. Every file a job writes lives under its own
work folder, which :meth:`Job.discard` removes.
"""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from colormnet.errors import ColormnetError, InputError
from colormnet.inference.exemplars import Exemplar
from colormnet.io.frames import IMAGE_EXTENSIONS
from colormnet.io.images import load_exemplar

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
PREVIEW_FRAMES = 8
PREVIEW_SIDE = 320

_DEVICE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def device_lock(device: str) -> threading.Lock:
    """The lock that lets one job at a time use ``device`` (shared by every session of the process)."""
    with _LOCKS_GUARD:
        return _DEVICE_LOCKS.setdefault(str(device), threading.Lock())


def is_archive(path: str | Path) -> bool:
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def _safe_member_name(name: str, archive: str) -> str | None:
    """Base name of an archive member that is a frame image; None for others; InputError for unsafe paths."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts:
        raise InputError(f"archive {archive} contains an unsafe path {name!r}; not extracting it")
    if any(part.startswith(".") for part in p.parts) or p.suffix.lower() not in IMAGE_EXTENSIONS:
        return None
    return p.name


def extract_frames(archive: Path, dest: Path, display_name: str | None = None) -> Path:
    """Unpack the frame images of a zip/tar archive flat into ``dest`` (created); returns ``dest``.

    Only image files are extracted (sub-folders flattened, hidden files skipped); two frames with the
    same name, an unsafe member path or an archive without frames raise :class:`InputError`.
    """
    shown = display_name or archive.name
    dest.mkdir(parents=True, exist_ok=False)
    names: set[str] = set()

    def target(member_name: str) -> Path | None:
        base = _safe_member_name(member_name, shown)
        if base is None:
            return None
        if base in names:
            raise InputError(f"archive {shown} holds two frames named {base} (in different folders)")
        names.add(base)
        return dest / base

    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    out = None if info.is_dir() else target(info.filename)
                    if out is not None:
                        with zf.open(info) as src, open(out, "wb") as dst:
                            shutil.copyfileobj(src, dst)
        else:
            with tarfile.open(archive) as tf:
                for member in tf:
                    out = target(member.name) if member.isfile() else None
                    src = tf.extractfile(member) if out is not None else None
                    if src is not None:
                        with src, open(out, "wb") as dst:
                            shutil.copyfileobj(src, dst)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(f"archive {shown} cannot be read ({exc})") from None
    if not names:
        raise InputError(f"archive {shown} contains no frame images "
                         f"({', '.join(sorted(e[1:] for e in IMAGE_EXTENSIONS))})")
    return dest


def parse_exemplar_frames(text: str, count: int) -> list[int | None]:
    """'0, 120, -' -> [0, 120, None] for ``count`` exemplars; missing entries are free references (None)."""
    tokens = [t.strip() for t in text.replace(";", ",").split(",")] if text and text.strip() else []
    if len(tokens) > count:
        raise InputError(f"{len(tokens)} frame numbers were given for {count} exemplar"
                         f"{'s' if count != 1 else ''}; give at most one per exemplar, in upload order")
    frames: list[int | None] = []
    for i in range(count):
        token = tokens[i] if i < len(tokens) else ""
        if token in ("", "-"):
            frames.append(None)
        elif token.isdigit():
            frames.append(int(token))
        else:
            raise InputError(f"exemplar frame {token!r} is not a frame number (0, 1, 2, ...) or '-' "
                             "(a free reference)")
    return frames


def load_exemplars(paths: Sequence[str | Path], frames_text: str) -> list[Exemplar]:
    """Uploaded exemplar images + the frame-number field -> exemplars named by their file names."""
    if not paths:
        raise InputError("no exemplar given: upload at least one colour image (the colour version of a "
                         "frame, or any colour picture of the scene)")
    frames = parse_exemplar_frames(frames_text, len(paths))
    exemplars = []
    for path, frame in zip(paths, frames, strict=True):
        name = Path(path).name
        try:
            rgb = load_exemplar(path)
        except InputError as err:
            raise InputError(str(err).replace(str(path), name)) from None
        exemplars.append(Exemplar(rgb, frame, name))
    return exemplars


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def read_report(path: Path) -> dict | None:
    """The run report :func:`colormnet.api.colorize_video` wrote (``report=True``); None if unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        log.warning("run report %s not readable: %s", path, err)
        return None


def _frame_runs(runs: Sequence[Sequence[int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def describe_report(report: dict | None) -> str:
    """Markdown for the page from a run report: the scene cuts found and the shots that would benefit from
    an exemplar (least confident first, with the frame to colour), as the CLI lists them at the end."""
    if not report:
        return "(No run report: scene cuts and confidence are not available.)"
    mode, cuts = report.get("scene_cut_mode", "off"), report.get("scene_cuts") or []
    if mode == "off":
        lines = ["**Scene cuts:** off."]
    elif report.get("scene_detector") is None:
        lines = ["**Scene cuts:** not detected (PySceneDetect is not installed on this server)."]
    elif cuts:
        what = "memory reset there" if mode == "reset" else "reported only"
        lines = [f"**Scene cuts** at frame{'s' if len(cuts) > 1 else ''} {', '.join(map(str, cuts))} ({what})."]
    else:
        lines = ["**Scene cuts:** none found."]
    conf = report.get("confidence") or {}
    threshold = conf.get("low_confidence_threshold")
    mean = f"; the whole run's is {conf['mean']:.2f}" if conf.get("mean") is not None else ""
    suggestions = report.get("would_benefit_from_exemplar") or []
    if suggestions:
        lines.append(f"**Frames that would benefit from an exemplar** (shots whose mean confidence is below "
                     f"{threshold}{mean}):")
        lines.append("\n".join(
            f"- shot {s['index']}: frames {s['first_frame']}-{s['last_frame']}, mean confidence "
            f"{s['mean_confidence']:.2f}; colour frame **{s['suggested_exemplar_frame']}** "
            f"(low: {_frame_runs(s.get('low_frames') or [])})" for s in suggestions))
    else:
        lines.append(f"**Confidence:** every shot's mean confidence is at least {threshold}{mean}; no exemplar "
                     "needed.")
    return "\n\n".join(lines)


class JobCancelled(Exception):
    """Raised inside the worker when the user cancels; the output is discarded."""


@dataclass(frozen=True)
class JobState:
    """What the page shows. state: queued | running | done | cancelled | error."""

    state: str = "queued"
    done: int = 0
    total: int = 0
    elapsed: float = 0.0
    message: str = ""
    previews: tuple[Path, ...] = ()
    output: Path | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "cancelled", "error")

    @property
    def fps(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        return (self.total - self.done) / self.fps if self.fps > 0 and self.total else None

    def describe(self) -> str:
        """One line of progress or result, e.g. 'Frame 12 of 48 · 3.10 frames/s · about 0:05 left'."""
        if self.state == "queued":
            return "Waiting for the device (one job at a time)..."
        if self.state == "error":
            return f"Error: {self.message}"
        if self.state == "cancelled":
            return f"Cancelled after {self.done} of {self.total} frames; nothing was kept."
        speed = f"{self.fps:.2f} frames/s"
        if self.state == "done":
            return (f"Done: {self.done} frames in {format_duration(self.elapsed)} ({speed}). "
                    "Download the video below.")
        if self.done == 0:
            return f"Starting: loading the first frames of {self.total}..."
        eta = f" · about {format_duration(self.eta)} left" if self.eta is not None else ""
        return f"Frame {self.done} of {self.total} · {speed}{eta}"


@dataclass
class Job:
    """Runs ``work(on_frame)`` (which must call ``on_frame(done, total, rgb)`` per frame and return the
    output path) in a thread, holding ``lock`` while it runs. ``workdir`` holds the previews."""

    work: Callable[[Callable[[int, int, np.ndarray], None]], Path]
    workdir: Path
    lock: threading.Lock
    total: int = 0
    _state: JobState = field(default_factory=JobState)
    _cancel: threading.Event = field(default_factory=threading.Event)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None
    _start: float = 0.0

    def __post_init__(self) -> None:
        self._state = JobState(total=self.total)

    def start(self) -> Job:
        self._thread = threading.Thread(target=self._run, name="colormnet-ui-job", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelling(self) -> bool:
        return self._cancel.is_set() and not self._state.finished

    def _update(self, **changes) -> None:
        with self._changed:
            elapsed = time.perf_counter() - self._start if self._start else 0.0
            self._state = replace(self._state, elapsed=elapsed, **changes)
            self._changed.notify_all()

    def _on_frame(self, done: int, total: int, rgb: np.ndarray) -> None:
        previews = self._state.previews
        if len(previews) < PREVIEW_FRAMES:
            img = Image.fromarray(rgb)
            img.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
            path = self.workdir / f"preview_{done:03d}.jpg"
            img.save(path, quality=90)
            previews = (*previews, path)
        self._update(state="running", done=done, total=total, previews=previews)
        if self._cancel.is_set():
            raise JobCancelled

    def _run(self) -> None:
        with self.lock:
            if self._cancel.is_set():
                self._update(state="cancelled")
                return
            self._start = time.perf_counter()
            self._update(state="running")
            try:
                output = self.work(self._on_frame)
            except JobCancelled:
                self._update(state="cancelled")
            except ColormnetError as err:
                self._update(state="error", message=str(err))
            except Exception as err:  # shown to the user; the server keeps running
                log.exception("colorization failed")
                self._update(state="error", message=f"unexpected failure: {type(err).__name__}: {err}")
            else:
                self._update(state="done", output=output)

    def wait(self, timeout: float) -> JobState:
        """The state after the next change, or after ``timeout`` seconds."""
        with self._changed:
            if not self._state.finished:
                self._changed.wait(timeout)
            return self._state

    @property
    def state(self) -> JobState:
        return self._state

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def discard(self) -> None:
        """Cancel, wait for the worker to stop, and delete everything under ``workdir``."""
        self.cancel()
        self.join(timeout=600)
        shutil.rmtree(self.workdir, ignore_errors=True)
