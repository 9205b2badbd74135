"""Bark (Suno): semantic -> coarse -> fine GPTs, then the EnCodec port (MLX port, checked against transformers)."""

from .config import BarkConfig, GenerationConfig
from .load import export_codec, load_model
from .model import Bark
from .presets import VoicePreset, available_presets, load_preset

Model = Bark

__all__ = ["Bark", "BarkConfig", "GenerationConfig", "Model", "VoicePreset", "available_presets", "export_codec",
           "load_model", "load_preset"]
