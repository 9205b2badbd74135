"""Nari Labs' Dia: byte-level text encoder + decoder over 9 delayed DAC codebooks, with guidance (MLX port,
checked against transformers' DiaForConditionalGeneration)."""

from .config import DiaConfig
from .load import load_model
from .model import Dia

Model = Dia

__all__ = ["Dia", "DiaConfig", "Model", "load_model"]
