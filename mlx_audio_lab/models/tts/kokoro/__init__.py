"""Kokoro-82M: text to speech (MLX port of hexgrad's `kokoro` KModel, StyleTTS 2 + iSTFTNet)."""

from .config import KokoroConfig
from .load import load_model
from .model import Kokoro

Model = Kokoro


__all__ = ["Kokoro", "KokoroConfig", "Model", "load_model"]
