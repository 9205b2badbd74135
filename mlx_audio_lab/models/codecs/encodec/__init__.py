"""EnCodec: neural audio codec (MLX port of facebook/encodec, checked against transformers' EncodecModel)."""

from .chunks import EncodecChunks
from .config import EncodecConfig
from .load import load_model
from .model import Encodec

Model = Encodec

__all__ = ["Encodec", "EncodecChunks", "EncodecConfig", "Model", "load_model"]
