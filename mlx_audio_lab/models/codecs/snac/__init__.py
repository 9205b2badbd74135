"""SNAC: the Multi-Scale Neural Audio Codec (MLX port, checked against the `snac` package)."""

from .config import SnacConfig
from .load import load_model
from .model import Snac

Model = Snac

__all__ = ["Model", "Snac", "SnacConfig", "load_model"]
