"""mlx_audio_lab: MLX ports of speech and audio models, proven equal to their PyTorch originals.

Importing the package is light: no torch, no model code. `load()` imports one port on demand.
"""

from __future__ import annotations

import os

# fp32 means fp32: MLX's CUDA back end otherwise runs float32 matmuls in TF32 (~3e-4 relative error, measured
# on an H100), which would put every parity check on the GPU off by 1e-3. Set MLX_ENABLE_TF32=1 to opt back in.
os.environ.setdefault("MLX_ENABLE_TF32", "0")

from . import _blas  # noqa: F401, E402  (warns early when MLX runs on the slow bundled BLAS)
from .registry import available_models, load  # noqa: E402

__version__ = "0.1.0"

__all__ = ["__version__", "available_models", "load"]
