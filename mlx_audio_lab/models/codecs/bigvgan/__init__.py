"""BigVGAN: the universal neural vocoder with anti-aliased periodic activations (MLX port, checked against the
`bigvgan` package)."""

from .config import BigVGANConfig
from .load import load_model
from .model import BigVGAN

Model = BigVGAN

__all__ = ["BigVGAN", "BigVGANConfig", "Model", "load_model"]
