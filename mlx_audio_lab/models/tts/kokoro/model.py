"""Kokoro-82M (StyleTTS 2 + iSTFTNet): phoneme ids + style vector -> 24 kHz audio, every stage tapped."""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....taps import tap
from .albert import Albert
from .config import KokoroConfig
from .istftnet import Decoder
from .modules import ProsodyPredictor, TextEncoder


@dataclass
class KokoroOutput:
    """Audio and the intermediate quantities worth looking at (durations, alignment, F0, N)."""

    audio: mx.array  # (samples,)
    durations: mx.array  # (T,) int frames per phoneme (1 frame = 600 samples at 24 kHz)
    f0: mx.array  # (2F,) Hz
    n: mx.array  # (2F,) energy
    input_ids: mx.array  # (T,)


def source_noise(seed: int, batch: int, length: int, dim: int = 9) -> tuple[mx.array, mx.array]:
    """The harmonic source's random draws (initial phases, noise) from a numpy generator, in torch's order."""
    rng = np.random.default_rng(seed)
    rand_ini = rng.random((batch, dim), dtype=np.float32)
    rand_ini[:, 0] = 0.0
    noise = rng.standard_normal((batch, length, dim), dtype=np.float32)
    return mx.array(rand_ini), mx.array(noise)


def alignment(durations: mx.array) -> mx.array:
    """Durations (T,) -> the hard alignment matrix (T, frames): phoneme t covers durations[t] frames."""
    idx = np.repeat(np.arange(durations.shape[0]), np.array(durations))
    aln = np.zeros((durations.shape[0], idx.shape[0]), np.float32)
    aln[idx, np.arange(idx.shape[0])] = 1
    return mx.array(aln)


class Kokoro(nn.Module):
    """PL-BERT -> prosody (durations, F0, N) -> text encoder aligned by durations -> iSTFTNet decoder."""

    def __init__(self, config: KokoroConfig):
        super().__init__()
        self.config = config
        c = config
        self.bert = Albert(c.plbert)
        self.bert_encoder = nn.Linear(c.plbert.hidden_size, c.hidden_dim)
        self.predictor = ProsodyPredictor(c.style_dim, c.hidden_dim, c.n_layer, c.max_dur)
        self.text_encoder = TextEncoder(c.hidden_dim, c.text_encoder_kernel_size, c.n_layer, c.n_token)
        self.decoder = Decoder(c.hidden_dim, c.style_dim, c.istftnet, c.sample_rate)

    @property
    def context(self) -> int:
        """The most phonemes one forward pass takes: PL-BERT's positions minus the two boundary tokens."""
        return self.config.plbert.max_position_embeddings - 2

    def save_extras(self, folder) -> None:
        """Called by `convert.save.save_model`: the voice packs go with the weights (`voices.safetensors`)."""
        if getattr(self, "voices", None) is not None:
            self.voices.save(folder)

    @property
    def hop(self) -> int:
        """Audio samples per alignment frame (600 at 24 kHz: 40 frames per second)."""
        return 2 * self.decoder.generator.scale

    def __call__(self, input_ids: mx.array, ref_s: mx.array, speed: float = 1.0, seed: int = 0,
                 rand_ini: mx.array | None = None, noise: mx.array | None = None) -> KokoroOutput:
        """input_ids (1, T) wrapped in 0 ... 0, ref_s (1, 2S) -> KokoroOutput. `seed` fixes the source noise."""
        if input_ids.shape[1] > self.context + 2:
            raise ValueError(f"{input_ids.shape[1]} tokens exceed the model's context of {self.context + 2} "
                             "(split the text: `generate` chunks it)")
        S = self.config.style_dim
        s_pro, s_dec = ref_s[:, S:], ref_s[:, :S]
        bert = tap("bert", self.bert(input_ids))
        d_en = tap("bert_encoder", self.bert_encoder(bert))
        d = tap("predictor.text_encoder", self.predictor.text_encoder(d_en, s_pro))
        dur = tap("durations", self.predictor.durations(d, speed))  # (1, T) before rounding
        pred = mx.maximum(mx.round(dur[0]), 1).astype(mx.int32)  # round half to even, as torch
        mx.eval(pred)
        idx = mx.array(np.repeat(np.arange(pred.shape[0]), np.array(pred)))
        en = d[:, idx]  # = d^T @ alignment, as a gather (exact)
        f0, n = self.predictor.F0Ntrain(en, s_pro)
        tap("F0", f0)
        tap("N", n)
        t_en = tap("text_encoder", self.text_encoder(input_ids))
        asr = t_en[:, idx]
        length = f0.shape[1] * self.decoder.generator.scale
        if rand_ini is None or noise is None:
            rand_ini, noise = source_noise(seed, input_ids.shape[0], length)
        audio = tap("audio", self.decoder(asr, f0, n, s_dec, rand_ini, noise))
        return KokoroOutput(audio[0], pred, f0[0], n[0], input_ids[0])

    def generate(self, text: str, voice=None, speed: float = 1.0, lang: str = "en-us", seed: int = 0):
        """Yield one `AudioResult` (24 kHz) per chunk of `text`; see `generate.generate`."""
        from .generate import generate

        return generate(self, text, voice=voice, speed=speed, lang=lang, seed=seed)
