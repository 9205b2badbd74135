"""Wav2Vec2 with a CTC head: raw audio -> characters (MLX port, checked against transformers)."""

from .config import Wav2Vec2Config
from .load import load_model
from .model import Wav2Vec2ForCTC
from .tokenizer import CTCVocab

Model = Wav2Vec2ForCTC

__all__ = ["CTCVocab", "Model", "Wav2Vec2Config", "Wav2Vec2ForCTC", "load_model"]
