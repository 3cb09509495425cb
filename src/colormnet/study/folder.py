"""The study folder: ``study.json`` (groups, methods, anonymous file tokens) and ``media/`` (copies).

Layout::

    STUDY/study.json            groups -> input, exemplar, outputs {token: method}; never served
    STUDY/media/g01/input.mp4   the grayscale clip, unchanged
    STUDY/media/g01/exemplar.png
    STUDY/media/g01/3f9c1a7e.mp4  one method's output, named by a random token (no method name)
    STUDY/votes.jsonl           the observers' choices (written by ``serve``)

Files are copied byte for byte, so observers see exactly what each method produced.
"""

from __future__ import annotations

import csv
import json
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from colormnet.errors import InputError, OutputError
from colormnet.io.atomic import commit_dir, make_partial_dir, remove_quietly

STUDY_FILE = "study.json"
VOTES_FILE = "votes.jsonl"
VIDEO_SUFFIXES = (".mp4", ".webm", ".m4v", ".mov", ".ogv", ".mkv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
_METHOD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


@dataclass(frozen=True)
class ClipSpec:
    """One group to judge: the grayscale input, its colour exemplar and ``outputs`` {method: path}."""

    input: Path
    exemplar: Path
    outputs: dict[str, Path]
    name: str = ""


def parse_clip_args(values: list[str]) -> ClipSpec:
    """``INPUT EXEMPLAR METHOD=OUTPUT METHOD=OUTPUT ...`` (the ``--clip`` option)."""
    if len(values) < 4:
        raise InputError(f"--clip {' '.join(values)}: expected INPUT EXEMPLAR METHOD=OUTPUT METHOD=OUTPUT ... "
                         "(at least two methods)")
    outputs: dict[str, Path] = {}
    for item in values[2:]:
        method, sep, path = item.partition("=")
        if not sep or not path:
            raise InputError(f"--clip: {item!r} should be METHOD=OUTPUT (e.g. colormnet=out/clip1.mp4)")
        if method in outputs:
            raise InputError(f"--clip: method {method!r} given twice for {values[0]}")
        outputs[method] = Path(path)
    return ClipSpec(Path(values[0]), Path(values[1]), outputs)


def load_clip_manifest(path: str | Path) -> list[ClipSpec]:
    """CSV with header ``input,exemplar,METHOD1,METHOD2,...`` (optional ``name`` column), or JSON Lines
    ``{"input": ..., "exemplar": ..., "outputs": {"METHOD": path, ...}, "name": ...}``. Relative paths
    are relative to the manifest's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"study manifest {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"study manifest {path} could not be read ({exc})") from exc
    base = path.resolve().parent

    def rel(value: str) -> Path:
        p = Path(str(value).strip()).expanduser()
        return p if p.is_absolute() else base / p

    clips: list[ClipSpec] = []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                outputs = {str(m): rel(p) for m, p in rec["outputs"].items()}
                clips.append(ClipSpec(rel(rec["input"]), rel(rec["exemplar"]), outputs, str(rec.get("name", ""))))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise InputError(f"study manifest {path} line {n}: expected a JSON object with input, "
                                 f"exemplar and outputs {{METHOD: path}} ({type(exc).__name__}: {exc})") from None
    else:
        rows = list(csv.reader(text.splitlines()))
        header = [h.strip() for h in rows[0]] if rows else []
        if header[:2] != ["input", "exemplar"] or len([h for h in header[2:] if h != "name"]) < 2:
            raise InputError(f"study manifest {path}: the header must be input,exemplar,METHOD1,METHOD2[,...]")
        for n, row in enumerate(rows[1:], 2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InputError(f"study manifest {path} row {n}: {len(row)} cells for {len(header)} columns")
            cells = dict(zip(header, row, strict=True))
            outputs = {m: rel(cells[m]) for m in header[2:] if m != "name"}
            clips.append(ClipSpec(rel(cells["input"]), rel(cells["exemplar"]), outputs, cells.get("name", "")))
    if not clips:
        raise InputError(f"study manifest {path} lists no clips")
    return clips


def _media_suffix(path: Path, what: str) -> str:
    if not path.exists():
        raise InputError(f"{what} {path} does not exist")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder; the study page needs a video file (.mp4/.webm) or an "
                         "image (encode a frame folder with 'colormnet colorize ... -o out.mp4' or FFmpeg)")
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
        raise InputError(f"{what} {path}: unsupported type {suffix or '(none)'}; browsers show "
                         f"{', '.join(VIDEO_SUFFIXES + IMAGE_SUFFIXES)}")
    return suffix


def check_clips(clips: list[ClipSpec]) -> list[str]:
    """Validate every path and name; all groups must compare the same methods. Returns the methods."""
    if not clips:
        raise InputError("no clips given: pass --clip INPUT EXEMPLAR METHOD=OUTPUT ... or --manifest FILE")
    methods = list(clips[0].outputs)
    for clip in clips:
        if len(clip.outputs) < 2:
            raise InputError(f"clip {clip.input}: a study needs at least two methods to choose from")
        for m in clip.outputs:
            if not _METHOD.match(m):
                raise InputError(f"method name {m!r}: use letters, digits and _ . + - (at most 64)")
        if set(clip.outputs) != set(methods):
            raise InputError(f"clip {clip.input} compares {', '.join(sorted(clip.outputs))} but the first clip "
                             f"compares {', '.join(sorted(methods))}; every clip needs the same methods")
        _media_suffix(clip.input, "input")
        _media_suffix(clip.exemplar, "exemplar")
        for m, p in clip.outputs.items():
            _media_suffix(p, f"output of {m}")
    return methods


def make_study(clips: list[ClipSpec], folder: str | Path, *, title: str = "Which colorization looks best?",
               question: str = "", overwrite: bool = False) -> Path:
    """Build the study folder (written aside and renamed when complete); returns its path.

    An existing folder is refused unless ``overwrite``, and never replaced once it holds votes.
    """
    folder = Path(folder)
    methods = check_clips(clips)
    if folder.exists():
        if (folder / VOTES_FILE).exists() and (folder / VOTES_FILE).stat().st_size:
            raise OutputError(f"{folder} holds votes ({VOTES_FILE}); not replaced. Choose another folder")
        if not folder.is_dir() or (any(folder.iterdir()) and not overwrite):
            raise OutputError(f"{folder} already exists; pass --overwrite to replace it")
    if not folder.parent.is_dir():
        raise OutputError(f"folder {folder.parent} does not exist; create it first")
    tmp = make_partial_dir(folder)
    try:
        groups = []
        width = max(2, len(str(len(clips))))
        for i, clip in enumerate(clips, 1):
            gid = f"g{i:0{width}d}"
            gdir = tmp / "media" / gid
            gdir.mkdir(parents=True)
            entry = {"id": gid, "name": clip.name or clip.input.stem, "source": str(clip.input), "outputs": {}}
            for role, src in (("input", clip.input), ("exemplar", clip.exemplar)):
                dst = gdir / f"{role}{_media_suffix(src, role)}"
                shutil.copyfile(src, dst)
                entry[role] = dst.relative_to(tmp).as_posix()
            for method, src in clip.outputs.items():
                token = secrets.token_hex(4)
                dst = gdir / f"{token}{_media_suffix(src, method)}"
                shutil.copyfile(src, dst)
                entry["outputs"][token] = {"method": method, "file": dst.relative_to(tmp).as_posix(),
                                           "source": str(src)}
            groups.append(entry)
        meta = {"version": 1, "title": title, "question": question or
                "Look at the black-and-white input and the colour exemplar, then choose the result that looks "
                "the most pleasing and natural to you.",
                "methods": methods, "groups": groups,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (tmp / STUDY_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        return commit_dir(tmp, folder, overwrite=overwrite)
    except BaseException:
        remove_quietly(tmp)
        raise


def load_study(folder: str | Path) -> dict:
    """The parsed ``study.json`` of ``folder`` (:class:`InputError` when it is not a study folder)."""
    path = Path(folder) / STUDY_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{folder} is not a study folder (no {STUDY_FILE}); build one with "
                         "'colormnet study make'") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} could not be read ({exc})") from exc
    if not isinstance(meta, dict) or not meta.get("groups") or not meta.get("methods"):
        raise InputError(f"{path} has no groups or methods")
    return meta
