"""MLX layers shared by more than one model."""

from .attention import KVCache, MultiHeadAttention
from .conv import SEANetResnetBlock, StreamableConv1d, StreamableConvTranspose1d
from .lstm import LSTM, ResidualLSTM
from .positional import sinusoids
from .quantizer import EuclideanCodebook, ResidualVectorQuantizer, VectorQuantizer, quantizers_for_bandwidth

__all__ = ["KVCache", "MultiHeadAttention", "sinusoids"]
__all__ += ["SEANetResnetBlock", "StreamableConv1d", "StreamableConvTranspose1d", "LSTM", "ResidualLSTM"]
__all__ += ["EuclideanCodebook", "ResidualVectorQuantizer", "VectorQuantizer", "quantizers_for_bandwidth"]
