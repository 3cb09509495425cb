"""Batch jobs: what to colorize, with which exemplars, into which output, with which options.

Jobs come from a manifest (CSV with a header, or JSON Lines) or from the inputs themselves, with
exemplars found beside each input: for ``films/a.mp4`` (or the frame folder ``films/a/``) the files
``films/a.png`` (a free reference) and ``films/a@N.png`` (the colour version of frame N); ``.jpg``,
``.jpeg`` and ``.webp`` are accepted too.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colormnet.config import MEMORY_PRESETS, PRECISIONS
from colormnet.errors import InputError
from colormnet.io.containers import CONTAINERS

EXEMPLAR_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

# per-job options (manifest ``options``) -> converter; the keys are colorize_video's keyword names
# plus the memory flags of ``colormnet colorize``.
_OPTION_TYPES: dict[str, type] = {
    "memory": str, "precision": str, "max_side": int, "max_frames": int, "codec": str, "pix_fmt": str, "crf": int,
    "fps": float, "mem_every": int, "max_mid_term_frames": int, "min_mid_term_frames": int,
    "max_long_term_elements": int, "num_prototypes": int, "top_k": int, "no_long_term": bool,
    "memory_policy": str, "policy_seed": int, "decay": float, "max_memory_frames": int,
}
OPTION_NAMES = tuple(_OPTION_TYPES)


@dataclass(frozen=True)
class Job:
    """One video to colorize. ``exemplars`` are ``"IMAGE"`` / ``"IMAGE@N"`` specs (as ``-e``);
    ``options`` holds the per-job overrides of :data:`OPTION_NAMES` (already type-checked)."""

    input: Path
    exemplars: tuple[str, ...]
    output: Path
    options: dict[str, Any] = field(default_factory=dict)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", ""):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a yes/no value: {value!r}")


def check_options(options: dict[str, Any], where: str) -> dict[str, Any]:
    """Type-convert per-job options; :class:`InputError` naming ``where`` for unknown keys or bad values."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        name = key.strip().replace("-", "_")
        if name not in _OPTION_TYPES:
            raise InputError(f"{where}: unknown option {key!r}; known options: {', '.join(OPTION_NAMES)}")
        kind = _OPTION_TYPES[name]
        try:
            out[name] = _to_bool(value) if kind is bool else kind(value)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: option {key}={value!r} is not a valid {kind.__name__}") from exc
    if "memory" in out and out["memory"] not in MEMORY_PRESETS:
        raise InputError(f"{where}: memory preset {out['memory']!r} unknown; choose one of "
                         f"{', '.join(MEMORY_PRESETS)}")
    if "precision" in out and out["precision"] not in PRECISIONS:
        raise InputError(f"{where}: precision {out['precision']!r} unknown; choose one of {', '.join(PRECISIONS)}")
    return out


def _parse_option_text(text: str, where: str) -> dict[str, Any]:
    """``'{"max_side": 640}'`` (JSON) or ``'max_side=640 memory=low-memory'`` (``;`` or spaces)."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: options are not valid JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise InputError(f"{where}: options must be a JSON object")
        return value
    pairs: dict[str, Any] = {}
    for item in re.split(r"[;\s]+", text):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            if key.replace("-", "_") == "no_long_term":
                value = "true"
            else:
                raise InputError(f"{where}: option {item!r} should be KEY=VALUE")
        pairs[key] = value
    return pairs


def default_output(input_path: Path, out_dir: Path) -> Path:
    """``a.mkv`` -> ``OUT/a.mkv`` (a container we write is kept, others give ``.mp4``); a frame folder
    ``a/`` -> ``OUT/a/``."""
    if input_path.suffix.lower() in CONTAINERS:
        return out_dir / input_path.name
    if input_path.is_dir() or not input_path.suffix:
        return out_dir / input_path.name
    return out_dir / f"{input_path.stem}.mp4"


def sidecar_exemplars(input_path: Path) -> tuple[str, ...]:
    """Exemplars beside ``input_path``: ``STEM.png`` (free reference) and ``STEM@N.png`` (frame N)."""
    stem = input_path.name if input_path.is_dir() else input_path.stem
    parent = input_path.parent
    if not parent.is_dir():
        return ()
    found: list[tuple[int, str]] = []
    pattern = re.compile(re.escape(stem) + r"(?:@(\d+))?$")
    for p in parent.iterdir():
        if p.suffix.lower() not in EXEMPLAR_SUFFIXES or not p.is_file() or p == input_path:
            continue
        m = pattern.match(p.stem)
        if m:
            frame = m.group(1)
            found.append((-1 if frame is None else int(frame), str(p) if frame is None else f"{p}@{int(frame)}"))
    return tuple(spec for _, spec in sorted(found))


def jobs_from_inputs(inputs: list[str | Path], out_dir: Path, options: dict[str, Any] | None = None) -> list[Job]:
    """One job per input, exemplars from :func:`sidecar_exemplars` (an input without any fails alone)."""
    return [Job(Path(i), sidecar_exemplars(Path(i)), default_output(Path(i), out_dir), dict(options or {}))
            for i in inputs]


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _exemplar_specs(base: Path, values: list[str]) -> tuple[str, ...]:
    specs = []
    for value in values:
        for part in str(value).split(";"):
            part = part.strip()
            if part:
                specs.append(str(_resolve(base, part)))
    return tuple(specs)


def _job_from_record(record: dict[str, Any], base: Path, out_dir: Path, where: str) -> Job:
    record = {str(k).strip().lower(): v for k, v in record.items() if k is not None}
    if not str(record.get("input") or "").strip():
        raise InputError(f"{where}: no input given")
    input_path = _resolve(base, str(record["input"]).strip())
    values: list[str] = []
    for key in sorted(k for k in record if k.startswith("exemplar")):
        value = record[key]
        if isinstance(value, list):
            values.extend(str(v) for v in value)
        elif value is not None:
            values.append(str(value))
    exemplars = _exemplar_specs(base, values) or sidecar_exemplars(input_path)
    output_value = str(record.get("output") or "").strip()
    output = _resolve(out_dir, output_value) if output_value else default_output(input_path, out_dir)
    raw = record.get("options") or {}
    if isinstance(raw, str):
        raw = _parse_option_text(raw, where)
    if not isinstance(raw, dict):
        raise InputError(f"{where}: options must be an object or KEY=VALUE text")
    return Job(input_path, exemplars, output, check_options(raw, where))


def load_manifest(path: str | Path, out_dir: Path) -> list[Job]:
    """Jobs of a CSV (header row; columns ``input``, ``exemplar`` [more: ``exemplar2``... or several
    specs split by ``;``], ``output``, ``options``) or JSON Lines manifest (``.jsonl``/``.ndjson``, one
    object per line with the same keys; ``exemplar(s)`` may be a list).

    Relative inputs and exemplars are relative to the manifest's folder, relative outputs to ``out_dir``.
    A row without exemplars uses the ones beside its input.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"manifest {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"manifest {path} could not be read ({exc})") from exc
    base = path.resolve().parent
    jobs: list[Job] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"manifest {path} line {n}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise InputError(f"manifest {path} line {n}: expected a JSON object")
            jobs.append(_job_from_record(record, base, out_dir, f"manifest {path} line {n}"))
    else:
        reader = csv.DictReader(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        if "input" not in fields:
            raise InputError(f"manifest {path}: the first row must be a header with an 'input' column "
                             "(and 'exemplar', 'output', 'options')")
        for n, row in enumerate(reader, 2):
            jobs.append(_job_from_record(row, base, out_dir, f"manifest {path} row {n}"))
    if not jobs:
        raise InputError(f"manifest {path} lists no inputs")
    return jobs


def check_distinct_outputs(jobs: list[Job]) -> None:
    """Two jobs writing the same output is a manifest mistake: refuse before doing any work."""
    seen: dict[Path, Path] = {}
    for job in jobs:
        key = job.output.resolve()
        if key in seen:
            raise InputError(f"{seen[key]} and {job.input} would both be written to {job.output}; "
                             "give them different outputs")
        seen[key] = job.input
