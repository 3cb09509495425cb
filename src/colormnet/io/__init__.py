"""Media input/output: exemplar and frame images (``images``), frame folders (``frames``), video files
(``video``, PyAV; streaming, atomic writes), atomic outputs (``atomic``) and reports (``reports``).

The names below are loaded on first use, so importing ``colormnet.io`` does not import PyAV.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "FrameFolderReader": "colormnet.io.frames",
    "FrameFolderWriter": "colormnet.io.frames",
    "list_frames": "colormnet.io.frames",
    "natural_key": "colormnet.io.frames",
    "scan_clips": "colormnet.io.frames",
    "is_grayscale_rgb": "colormnet.io.images",
    "load_exemplar": "colormnet.io.images",
    "load_frame_rgb": "colormnet.io.images",
    "resize_exemplar": "colormnet.io.images",
    "DecodedFrame": "colormnet.io.video",
    "VideoInfo": "colormnet.io.video",
    "VideoReader": "colormnet.io.video",
    "VideoWriter": "colormnet.io.video",
    "probe": "colormnet.io.video",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
