"""IndexTTS 2's GPT stage in MLX (`UnifiedVoice`): speaker features -> Conformer -> perceiver latents, plus an
emotion vector and two speed embeddings, then text, then GPT-2 writing mel codes (8192 + start/stop upstream).

Prompt (B, P + 1, D): [latents + emotion (N)] [speed 1] [speed 0] [start_text, text, stop_text] [start_mel].
Text gets `text_pos` 0..L+1; mel codes get `mel_pos`: start_mel at 0, then generated code k (k >= 1) at k + 1
(upstream's offset: its cached step counts the attention mask minus the prompt).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....layers.attention import KVCache
from ....taps import tap
from .config import IndexTTSConfig
from .conformer import ConformerEncoder
from .gpt2 import GPT2
from .perceiver import PerceiverResampler


class IndexTTS(nn.Module):
    """IndexTTS 2's GPT stage: voice features + text ids -> mel codes (s2mel and the vocoder: `synthesis.py`)."""

    sample_rate = 22050  # BigVGAN v2 22 kHz
    samples_tokens = True  # speak's sampling flags apply to the mel codes

    def __init__(self, config: IndexTTSConfig):
        super().__init__()
        self.config = c = config
        cm, em = c.condition_module, c.emo_condition_module
        self.conditioning_encoder = ConformerEncoder(cm, "conditioning_encoder")
        self.perceiver_encoder = PerceiverResampler(c.model_dim, cm.output_size, c.condition_num_latent,
                                                    cm.attention_heads, cm.perceiver_mult, name="perceiver_encoder")
        self.emo_conditioning_encoder = ConformerEncoder(em, "emo_conditioning_encoder")
        self.emo_perceiver_encoder = PerceiverResampler(c.emo_dim, em.output_size, 1, em.attention_heads,
                                                        em.perceiver_mult, name="emo_perceiver_encoder")
        self.emovec_layer = nn.Linear(c.emo_dim, c.model_dim)
        self.emo_layer = nn.Linear(c.model_dim, c.model_dim)
        self.speed_emb = nn.Embedding(2, c.model_dim)
        self.text_embedding = nn.Embedding(c.number_text_tokens + 1, c.model_dim)
        self.text_pos = nn.Embedding(c.max_text_tokens + 2, c.model_dim)
        self.mel_embedding = nn.Embedding(c.number_mel_codes, c.model_dim)
        self.mel_pos = nn.Embedding(c.max_mel_tokens + 2 + c.max_conditioning_inputs, c.model_dim)
        self.gpt = GPT2(c.model_dim, c.layers, c.heads)
        self.final_norm = nn.LayerNorm(c.model_dim, eps=1e-5)
        self.mel_head = nn.Linear(c.model_dim, c.number_mel_codes)

    def speaker_latents(self, features: mx.array) -> mx.array:
        """w2v-BERT features (B, T, 1024) -> perceiver latents (B, N, D)."""
        return self.perceiver_encoder(self.conditioning_encoder(features))

    def emotion_vector(self, features: mx.array) -> mx.array:
        """Emotion reference features (B, T, 1024) -> (B, D)."""
        e = self.emo_perceiver_encoder(self.emo_conditioning_encoder(features))[:, 0]  # (B, 1024)
        return tap("emo_layer", self.emo_layer(tap("emovec_layer", self.emovec_layer(e))))

    def prompt_embeddings(self, features: mx.array, text: np.ndarray, emo_features: mx.array | None = None
                          ) -> mx.array:
        """(B, P, D): conditioning (N + 2) then the text wrapped in start / stop (ids equal to either are dropped)."""
        c = self.config
        emo = self.emotion_vector(features if emo_features is None else emo_features)
        lat = self.speaker_latents(features) + emo[:, None]
        B = lat.shape[0]
        speed = self.speed_emb(mx.array([1, 0]))  # upstream order: the "half" speed embedding first
        conds = mx.concatenate([lat, mx.broadcast_to(speed[None], (B, 2, c.model_dim))], axis=1)
        ids = self.text_ids(text)
        rows = self.text_embedding(mx.array(ids)) + self.text_pos.weight[: ids.shape[1]]
        return mx.concatenate([conds, rows], axis=1)

    def text_ids(self, text: np.ndarray) -> np.ndarray:
        """(B, L) ids -> (B, L' + 2) wrapped in start / stop text tokens (ids equal to either are dropped first);
        rows must keep equal lengths (upstream left-pads a batch; one voice, one text here)."""
        c = self.config
        rows = [ids[(ids != c.start_text_token) & (ids != c.stop_text_token)] for ids in np.atleast_2d(text)]
        return np.stack([np.concatenate([[c.start_text_token], r, [c.stop_text_token]]) for r in rows]).astype(np.int32)

    def prompt_length(self, text: np.ndarray) -> int:
        """Positions before start_mel: latents, two speed embeddings, wrapped text."""
        return self.config.condition_num_latent + 2 + self.text_ids(text).shape[1]

    def step(self, x: mx.array, cache: list[KVCache]) -> mx.array:
        """Embeddings (B, T, D) through GPT-2 -> logits of the last position (B, V); all positions tapped."""
        logits = tap("logits", self.mel_head(self.final_norm(self.gpt(x, cache))))
        return logits[:, -1]

    def mel_input(self, codes: mx.array, position: int) -> mx.array:
        """Codes (B, T) embedded with mel positions starting at `position`."""
        return self.mel_embedding(codes) + self.mel_pos.weight[position: position + codes.shape[1]]

    def make_cache(self) -> list[KVCache]:
        return self.gpt.make_cache()

    def generate(self, text: str, voice=None, **options):
        """Speech for `text` cloning the `voice` clip (see speak.py); yields one AudioResult."""
        from .speak import generate

        yield from generate(self, text, voice, **options)
