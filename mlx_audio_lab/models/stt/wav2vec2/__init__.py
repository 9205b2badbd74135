"""Wav2Vec2 with a CTC head: raw audio -> characters (MLX port, checked against transformers)."""

from .config import Wav2Vec2Config
from .load import export_mlx_community, load_model
from .model import Wav2Vec2ForCTC
from .tokenizer import CTCVocab

Model = Wav2Vec2ForCTC

__all__ = ["CTCVocab", "Model", "Wav2Vec2Config", "Wav2Vec2ForCTC", "export_mlx_community", "load_model"]
