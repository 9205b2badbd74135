"""Mimi: Kyutai's streaming neural audio codec (MLX port, checked against transformers' MimiModel)."""

from .config import MimiConfig
from .load import load_model
from .model import Mimi

Model = Mimi

__all__ = ["Mimi", "MimiConfig", "Model", "load_model"]
