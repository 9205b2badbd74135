"""MaskGCT's semantic codec (RepCodec, Amphion), the part IndexTTS 2 runs: w2v-BERT features (B, T, 1024) ->
Vocos ConvNeXt encoder -> linear -> residual factorized VQ (projected to 8 dims, L2-normalised codebook of 8192)
-> codes (B, T) and their embedding (B, T, 1024); `vq2emb` maps codes back to that embedding. The codec's decoder
(which reconstructs the features in training) is never run by IndexTTS and is not ported. Channels-last."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .....codes import check_range
from .....layers.factorized_vq import ResidualFactorizedVQ
from .....taps import tap
from ....codecs.vocos.model import VocosBackbone
from .config import SemanticCodecConfig


class SemanticCodec(nn.Module):
    """`quantize(feats) -> (codes, emb)` and `vq2emb(codes) -> emb`; names follow RepCodec's state dict
    (`encoder.0` the backbone, `encoder.1` the linear, `quantizer.quantizers.N`)."""

    def __init__(self, cfg: SemanticCodecConfig):
        super().__init__()
        self.config = cfg
        self.encoder = [VocosBackbone(cfg.hidden_size, cfg.vocos_dim, cfg.vocos_intermediate_dim, cfg.vocos_num_layers),
                        nn.Linear(cfg.vocos_dim, cfg.hidden_size)]
        self.quantizer = ResidualFactorizedVQ(cfg.hidden_size, cfg.codebook_size, cfg.codebook_dim,
                                              [1] * cfg.num_quantizers)

    def encode(self, feats: mx.array) -> mx.array:
        """(B, T, hidden) -> the latent the quantizer sees (B, T, hidden)."""
        return tap("codec.encoder", self.encoder[1](self.encoder[0](feats)))

    def quantize(self, feats: mx.array) -> tuple[mx.array, mx.array]:
        """(B, T, hidden) -> codes (B, T) (one quantizer; (n_q, B, T) for several, as upstream) and the quantized
        embedding (B, T, hidden), the sum of each stage's projected codeword."""
        codes = self.quantizer.encode(self.encode(feats))
        emb = tap("codec.quantized", self.quantizer.decode(codes))
        stacked = tap("codec.codes", mx.stack(codes))  # (n_q, B, T)
        return (stacked[0] if len(codes) == 1 else stacked), emb

    def vq2emb(self, codes: mx.array) -> mx.array:
        """Codes (n_q, B, T) or (B, T) (one quantizer) -> embedding (B, T, hidden), as `quantizer.vq2emb`."""
        a = np.asarray(codes)
        check_range(a, self.config.codebook_size, "semantic codes", "position {0}" + ", {1}" * (a.ndim - 1))
        codes = mx.array(a.astype(np.int32))
        codes = codes[None] if codes.ndim == 2 else codes
        return self.quantizer.decode([codes[i] for i in range(codes.shape[0])])
