"""Vocos: Fourier-based neural vocoder (MLX port of charactr's `vocos`, mel and EnCodec-feature variants)."""

from .config import VocosConfig
from .load import load_model
from .model import Vocos

Model = Vocos

__all__ = ["Model", "Vocos", "VocosConfig", "load_model"]
