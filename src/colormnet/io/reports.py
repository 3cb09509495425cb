"""Reports: strict JSON text and atomic writing of small text files (JSON / Markdown reports).

Reports are strict JSON: non-finite floats (PSNR of identical frames is ``inf``) are written as the
strings ``"inf"``, ``"-inf"``, ``"nan"``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from colormnet.errors import OutputError
from colormnet.io.atomic import check_output_path, commit_file, partial_file_path, remove_quietly

__all__ = ["json_text", "write_text"]

PathLike = str | os.PathLike


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


def json_text(obj: Any) -> str:
    """Strict JSON (indent 2, trailing newline); non-finite floats become "inf"/"-inf"/"nan"."""
    return json.dumps(_jsonable(obj), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def write_text(path: PathLike, text: str, *, overwrite: bool = False,
               inputs: Iterable[PathLike | None] = ()) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (temporary sibling, then rename).

    Raises OutputError when ``path`` exists and not ``overwrite``, is one of ``inputs`` or its folder
    is missing or not writable.
    """
    out = check_output_path(path, inputs=inputs, overwrite=overwrite)
    tmp = partial_file_path(out)
    try:
        tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        remove_quietly(tmp)
        raise OutputError(f"could not write {out}: {exc}") from exc
    return commit_file(tmp, out, overwrite=overwrite)
