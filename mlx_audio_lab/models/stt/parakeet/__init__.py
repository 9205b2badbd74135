"""Parakeet / FastConformer speech recognition with CTC, RNN-T and TDT heads (checked against transformers)."""

from .config import ParakeetConfig
from .load import export_mlx_community, load_model
from .model import Parakeet

Model = Parakeet

__all__ = ["Model", "Parakeet", "ParakeetConfig", "export_mlx_community", "load_model"]

