"""ColorMNet: exemplar-based video colorization (ECCV 2024), re-implemented.

Nothing is downloaded or loaded at import time. Start with :func:`colormnet.api.colorize_video`
(files in, files out), :func:`colormnet.inference.engine.colorize_frames` (arrays), or
:func:`colormnet.pretrained.load_model` + :class:`colormnet.inference.session.ColorizationSession`.
"""

from colormnet.config import MemoryConfig, ModelConfig

__version__ = "0.1.0"

__all__ = ["MemoryConfig", "ModelConfig", "__version__"]
