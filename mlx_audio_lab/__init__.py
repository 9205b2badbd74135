"""mlx_audio_lab: MLX ports of speech and audio models, proven equal to their PyTorch originals.

Importing the package is light: no torch, no model code. `load()` imports one port on demand.
"""

from __future__ import annotations

from . import _blas  # noqa: F401  (warns early when MLX runs on the slow bundled BLAS)
from .registry import available_models, load

__version__ = "0.1.0"

__all__ = ["__version__", "available_models", "load"]
