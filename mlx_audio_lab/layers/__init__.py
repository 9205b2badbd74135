"""MLX layers shared by more than one model."""

from .attention import KVCache, MultiHeadAttention
from .positional import sinusoids

__all__ = ["KVCache", "MultiHeadAttention", "sinusoids"]
