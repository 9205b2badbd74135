"""Sesame CSM-1B: Llama backbone + depth decoder writing Mimi codes (MLX port, checked against transformers)."""

from .config import CsmConfig
from .generate import Segment
from .load import export_codec, load_model
from .model import Csm

Model = Csm

__all__ = ["Csm", "CsmConfig", "Model", "Segment", "export_codec", "load_model"]
