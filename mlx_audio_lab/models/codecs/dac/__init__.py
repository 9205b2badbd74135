"""DAC: the Descript Audio Codec (MLX port, checked against transformers' DacModel)."""

from .config import DacConfig
from .load import load_model
from .model import Dac

Model = Dac

__all__ = ["Dac", "DacConfig", "Model", "load_model"]
