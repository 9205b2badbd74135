"""BiCodec (Spark-TTS, 2025): a speech codec with two token streams.

- semantic tokens (50 per second): wav2vec2 features -> ConvNeXt encoder -> factorized VQ (8192 codes);
- global tokens (32 per clip): magnitude mel of a 6 s reference window -> ECAPA-TDNN -> perceiver -> FSQ (4096).
Decoding: semantic codewords -> pre-net conditioned on the d-vector of the global tokens, plus that d-vector
-> DAC-style wave generator -> 16 kHz audio. Module names follow `spark_tts_lib.models.bicodec.BiCodec`.
Channels-last: features (B, T, C); tokens: semantic (B, T), global (B, 1, 32).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .....layers import FactorizedVectorQuantizer
from .....taps import tap
from ..config import WAV2VEC2_LAYERS, BiCodecConfig
from .frontend import mel_spectrogram, wav2vec2_features
from .speaker import SpeakerEncoder
from .vocos import FeatureDecoder, FeatureEncoder
from .wave import WaveGenerator


def _args(d: dict, drop: tuple[str, ...] = ()) -> dict:
    return {k: v for k, v in d.items() if k not in drop and not k.startswith("_")}


class BiCodec(nn.Module):
    """`tokenize(wav) -> (global, semantic)`, `detokenize(global, semantic) -> audio`; `wav2vec2` is attached
    by the loader (the project's MLX Wav2Vec2Model of the `wav2vec2-large-xlsr-53` folder)."""

    def __init__(self, cfg: BiCodecConfig):
        super().__init__()
        c = cfg.codec
        self.config = cfg
        self.encoder = FeatureEncoder(**_args(c["encoder"]))
        q = c["quantizer"]
        self.quantizer = FactorizedVectorQuantizer(q["input_dim"], q["codebook_size"], q["codebook_dim"])
        self.speaker_encoder = SpeakerEncoder(**_args(c["speaker_encoder"]))
        self.prenet = FeatureDecoder(**_args(c["prenet"]))
        self.decoder = WaveGenerator(**_args(c["decoder"]))
        self.wav2vec2 = None

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def reference_window(self, wav: np.ndarray) -> np.ndarray:
        """The speaker window: the first `ref_segment_duration` seconds (whole hops), the clip tiled if shorter."""
        n = self.config.ref_segment_samples
        wav = np.asarray(wav, dtype=np.float32)
        if len(wav) < n:
            wav = np.tile(wav, n // len(wav) + 1)
        return wav[:n]

    def semantic_tokens(self, features: mx.array) -> mx.array:
        """wav2vec2 features (B, T, 1024) -> semantic tokens (B, T')."""
        z = tap("encoder", self.encoder(features))
        return tap("quantizer.tokens", self.quantizer.encode(z))

    def global_tokens(self, ref_wav: np.ndarray) -> mx.array:
        """A reference window (S,) -> global tokens (1, 1, token_num)."""
        mel = mel_spectrogram(mx.array(ref_wav, dtype=mx.float32)[None], self.config.codec["mel_params"])
        return self.speaker_encoder.tokenize(mel)

    def tokenize(self, wav: np.ndarray) -> tuple[mx.array, mx.array]:
        """16 kHz mono clip (S,) -> (global tokens (1, 1, 32), semantic tokens (1, S / 320))."""
        if self.wav2vec2 is None:
            raise ValueError("no wav2vec2 model attached: load the Spark-TTS folder (wav2vec2-large-xlsr-53/)")
        features = wav2vec2_features(self.wav2vec2, wav, WAV2VEC2_LAYERS)
        return self.global_tokens(self.reference_window(wav)), self.semantic_tokens(features)

    def detokenize(self, global_tokens: mx.array, semantic_tokens: mx.array) -> mx.array:
        """global (B, 1, 32) or (B, 32), semantic (B, T) -> audio (B, T * 320)."""
        g = mx.array(global_tokens)
        g = g[:, None] if g.ndim == 2 else g
        d_vector = self.speaker_encoder.detokenize(g)  # (B, out_dim)
        z_q = tap("quantizer.decoded", self.quantizer.decode(mx.array(semantic_tokens)))
        x = tap("prenet", self.prenet(z_q, d_vector)) + d_vector[:, None]
        return self.decoder(x)[..., 0]
