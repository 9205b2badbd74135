"""IndexTTS 2's semantic front end as one object: 16 kHz audio -> w2v-BERT features -> hidden state 17, normalised
with the stats file (the GPT's speaker / emotion conditioning) -> MaskGCT codes and their embedding (s2mel's prompt).
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .....taps import tap
from .codec import SemanticCodec
from .config import FeatureConfig
from .features import seamless_features
from .w2vbert import W2VBert


class SemanticFrontEnd:
    """`features(audio16k) -> (feats, codes, emb)`: feats (1, T, D) as upstream's `get_emb`, codes (1, T) and the
    quantized embedding (1, T, D) as `semantic_codec.quantize`; `vq2emb(codes)` as `quantizer.vq2emb`.
    T = one frame per 20 ms of audio (50 Hz)."""

    def __init__(self, w2vbert: W2VBert, codec: SemanticCodec, mean: mx.array, std: mx.array,
                 feature_config: FeatureConfig):
        self.w2vbert, self.codec = w2vbert, codec
        self.mean, self.std = mean, std  # (D,) of hidden state 17 over upstream's training data
        self.feature_config = feature_config

    @property
    def sample_rate(self) -> int:
        return self.feature_config.sampling_rate

    def input_features(self, audio16k: np.ndarray | mx.array) -> mx.array:
        """(S,) 16 kHz audio -> `SeamlessM4TFeatureExtractor`'s input_features (1, T, 160)."""
        return tap("semantic.input_features", seamless_features(audio16k, self.feature_config))

    def embed(self, input_features: mx.array) -> mx.array:
        """Input features (1, T, 160) -> the normalised hidden state the GPT reads (upstream's `get_emb`)."""
        hidden = self.w2vbert(input_features)
        return tap("semantic.emb", (hidden - self.mean) / self.std)

    def features(self, audio16k: np.ndarray | mx.array) -> tuple[mx.array, mx.array, mx.array]:
        """(S,) 16 kHz audio -> (feats (1, T, D), codes (1, T), quantized embedding (1, T, D))."""
        feats = self.embed(self.input_features(audio16k))
        codes, emb = self.codec.quantize(feats)
        return feats, codes, emb

    def vq2emb(self, codes: mx.array) -> mx.array:
        """Semantic codes (1, T) -> their embedding (1, T, D) (what s2mel adds to the GPT latents)."""
        return self.codec.vq2emb(codes)
