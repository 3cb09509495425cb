"""ColorMNet: exemplar-based video colorization (ECCV 2024), re-implemented.

Nothing is downloaded or loaded at import time. Start with :func:`colormnet.build_model`
and :class:`colormnet.inference.session.ColorizationSession`.
"""

from colormnet.config import MemoryConfig, ModelConfig

__version__ = "0.1.0"

__all__ = ["MemoryConfig", "ModelConfig", "__version__"]
