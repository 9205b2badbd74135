"""Voxtral: Whisper audio encoder + projector + Llama decoder (MLX port, checked against transformers)."""

from .config import VoxtralConfig
from .load import export_mlx_community, load_model
from .model import Voxtral

Model = Voxtral

__all__ = ["Model", "Voxtral", "VoxtralConfig", "export_mlx_community", "load_model"]
