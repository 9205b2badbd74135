"""Silero VAD v6 (MLX port, checked against the `silero-vad` package's TorchScript model)."""

from .config import SileroConfig
from .load import load_model
from .model import SileroVAD, segments_from_probabilities
from .stream import VADStream
from .timestamps import VADOptions, speech_spans

Model = SileroVAD

__all__ = ["Model", "SileroConfig", "SileroVAD", "VADOptions", "VADStream", "load_model",
           "segments_from_probabilities", "speech_spans"]
