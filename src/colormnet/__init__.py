"""ColorMNet: exemplar-based video colorization (ECCV 2024), re-implemented.

Public API (see README, "Python"): files in, files out with :func:`colorize_video`; arrays with
:func:`colorize_frames`; the network from :func:`build_model` (the named models of
:data:`colormnet.models.MODELS`); one video's state in :class:`ColorizationSession`; exemplars as
:class:`Exemplar`; settings in :class:`MemoryConfig` / :class:`ModelConfig`.

Nothing is downloaded or loaded at import time, and torch is imported only when one of the torch-level
names is first used (so ``colormnet --help`` stays fast).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from colormnet.config import MemoryConfig, ModelConfig, memory_preset

__version__ = "0.1.0"

_LAZY = {
    "colorize_video": "colormnet.api",
    "colorize_frames": "colormnet.inference.engine",
    "iter_colorize": "colormnet.inference.engine",
    "ColorizeOptions": "colormnet.inference.engine",
    "ColorizationSession": "colormnet.inference.session",
    "Exemplar": "colormnet.inference.exemplars",
    "parse_exemplar": "colormnet.inference.exemplars",
    "build_model": "colormnet.models",
    "MODELS": "colormnet.models",
}

__all__ = [
    "MODELS",
    "ColorizationSession",
    "ColorizeOptions",
    "Exemplar",
    "MemoryConfig",
    "ModelConfig",
    "__version__",
    "build_model",
    "colorize_frames",
    "colorize_video",
    "iter_colorize",
    "memory_preset",
    "parse_exemplar",
]

if TYPE_CHECKING:
    from colormnet.api import colorize_video
    from colormnet.inference.engine import ColorizeOptions, colorize_frames, iter_colorize
    from colormnet.inference.exemplars import Exemplar, parse_exemplar
    from colormnet.inference.session import ColorizationSession
    from colormnet.models import MODELS, build_model


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
