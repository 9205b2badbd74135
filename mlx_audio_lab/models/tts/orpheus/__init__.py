"""Orpheus TTS: a Llama language model writing SNAC codes (MLX port, checked against transformers' Llama)."""

from .config import OrpheusConfig
from .layout import TokenLayout
from .load import load_model
from .model import Orpheus

Model = Orpheus

__all__ = ["Model", "Orpheus", "OrpheusConfig", "TokenLayout", "load_model"]
