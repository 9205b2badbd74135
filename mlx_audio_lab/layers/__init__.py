"""MLX layers shared by more than one model (each lives once; ports import them from here).

attention        multi-head attention (HF names) with a growable KV cache
transformer      RoPE attention with a sliding window, layer scale, transformer stack (Mimi)
relpos_attention relative-position self attention (FastConformer); conformer: its conv module
conv             Conv1d / ConvTranspose1d (CPU rewrites of MLX's slow conv cases), SEANet streamable convs,
                 residual blocks; streaming: frame steps
convnext         ConvNeXt block and AdaLayerNorm (Vocos)
lstm             LSTM with torch names and gate order (uni- and bidirectional), LSTMCell (one step)
gru              GRU with torch names and gate order (r, z, n), multi-layer
quantizer        residual vector quantizer (Euclidean codebooks), bandwidth -> codebooks
factorized_vq    projected, L2-normalised codebooks (DAC, SNAC); split_quantizer: semantic + acoustic (Mimi)
snake            Snake activation and its residual unit; groupnorm: float32-stable group norm; ctc: greedy CTC
                 SnakeBeta and log-scale parameters (BigVGAN)
antialias        Kaiser-sinc 2x up / down resampling around an activation (BigVGAN's alias-free AMP blocks)
positional       sinusoidal position tables
fast_math        cheap exp / softmax / GELU / Snake / attention for MLX's CPU back end (plain MLX ops as fallback)
campplus         CAMPPlus speaker encoder (x-vector, on dsp.kaldi_fbank) and its key-map rules
cpu/             CPU kernels replacing MLX's slow CPU ops: conv rewrites (cpu/conv.py), one-row GEMV (cpu/gemv.py)
                 softmax attention on numpy's SIMD exp (cpu/attention.py)
"""

from .attention import KVCache, MultiHeadAttention
from .conv import Conv1d, ConvTranspose1d, SEANetResnetBlock, StreamableConv1d, StreamableConvTranspose1d
from .convnext import AdaLayerNorm, ConvNeXtBlock
from .cpu.gemv import project, tied_logits
from .factorized_vq import FactorizedVectorQuantizer, ResidualFactorizedVQ, l2_normalize
from .fast_math import (
    fast_exp,
    gelu,
    plain_math,
    scaled_dot_product_attention,
    set_fast_math,
    softmax,
)
from .gru import GRU
from .lstm import LSTM, LSTMCell, ResidualLSTM
from .positional import sinusoids
from .quantizer import EuclideanCodebook, ResidualVectorQuantizer, VectorQuantizer, quantizers_for_bandwidth
from .snake import Snake1d, SnakeBeta, SnakeResidualUnit, snake
from .split_quantizer import ProjectedResidualVectorQuantizer, SplitResidualVectorQuantizer
from .streaming import conv1d_step, conv_transpose1d_step, layers_step
from .transformer import LayerScale, RoPEAttention, SlidingKVCache, Transformer, TransformerLayer

__all__ = [
    "GRU", "LSTM", "LSTMCell", "AdaLayerNorm", "Conv1d", "ConvNeXtBlock", "ConvTranspose1d", "EuclideanCodebook",
    "FactorizedVectorQuantizer", "KVCache",
    "LayerScale", "MultiHeadAttention", "ProjectedResidualVectorQuantizer", "ResidualFactorizedVQ", "ResidualLSTM",
    "ResidualVectorQuantizer", "RoPEAttention", "SEANetResnetBlock", "SlidingKVCache", "Snake1d", "SnakeResidualUnit",
    "SnakeBeta", "SplitResidualVectorQuantizer", "StreamableConv1d", "StreamableConvTranspose1d", "Transformer",
    "TransformerLayer", "VectorQuantizer", "conv1d_step", "conv_transpose1d_step", "fast_exp", "gelu",
    "l2_normalize", "layers_step", "plain_math", "project", "quantizers_for_bandwidth", "scaled_dot_product_attention",
    "set_fast_math", "sinusoids", "snake", "softmax", "tied_logits",
]
