"""Whisper: encoder-decoder speech recognition (MLX port of openai/whisper, checked against transformers)."""

from .config import WhisperConfig
from .load import load_model
from .model import Whisper

Model = Whisper

__all__ = ["Model", "Whisper", "WhisperConfig", "load_model"]
