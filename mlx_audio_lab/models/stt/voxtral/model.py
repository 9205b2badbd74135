"""Voxtral (Mistral AI, 2025): a Whisper audio encoder, a frame-stacking projector and a Llama decoder.

Module names follow the checkpoint of `mistralai/Voxtral-Mini-3B-2507` (`audio_tower`,
`multi_modal_projector`, `language_model.model.layers.N`, `language_model.lm_head`). The audio tower is
the Whisper port's `AudioEncoder`; the language model is `mlx_lm.models.llama.Model`.
Shapes are channels-last: mel (chunks, 3000, n_mels), audio embeddings (audio tokens, hidden).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models import llama
from mlx_lm.models.base import create_attention_mask

from ....layers.fast_math import gelu, softmax
from ....taps import tap
from ..whisper.model import AudioEncoder
from .config import VoxtralConfig


class MultiModalProjector(nn.Module):
    """Four stacked encoder frames (4 x 1280) -> one token embedding: linear, GELU, linear (no biases)."""

    def __init__(self, d_in: int, d_model: int):
        super().__init__()
        self.linear_1 = nn.Linear(d_in, d_model, bias=False)
        self.linear_2 = nn.Linear(d_model, d_model, bias=False)

    def __call__(self, x: mx.array) -> mx.array:
        return self.linear_2(gelu(self.linear_1(x)))


class Voxtral(nn.Module):
    """Audio tower + projector + Llama language model; audio embeddings replace the [AUDIO] tokens."""

    def __init__(self, cfg: VoxtralConfig):
        super().__init__()
        self.config = cfg
        self.audio_tower = AudioEncoder(cfg.audio)
        a = cfg.audio_config
        self.multi_modal_projector = MultiModalProjector(a["intermediate_size"], cfg.text_config["hidden_size"])
        self.language_model = llama.Model(llama.ModelArgs.from_dict(cfg.text_config))

    @property
    def layers(self) -> list[nn.Module]:
        """The decoder blocks (mlx-lm `TransformerBlock`s)."""
        return self.language_model.model.layers

    def embed_audio(self, mel: mx.array) -> mx.array:
        """mel (chunks, 3000, n_mels) -> audio token embeddings (chunks * 375, hidden)."""
        x = self.audio_tower(mel)  # (chunks, 1500, d_audio)
        x = x.reshape(-1, self.config.audio_config["intermediate_size"])  # stack 4 frames: (chunks * 375, 4 d)
        return tap("projector", self.multi_modal_projector(x))

    def embed_tokens(self, tokens: mx.array) -> mx.array:
        """Token ids (B, T) -> text embeddings (B, T, hidden)."""
        return self.language_model.model.embed_tokens(tokens)

    def embed_inputs(self, tokens: mx.array, audio: mx.array | None = None) -> mx.array:
        """Embeddings of a prompt (B, T) whose [AUDIO] positions take the audio embeddings, in order."""
        x = self.embed_tokens(tokens)
        if audio is None:
            return x
        is_audio = (tokens == self.config.audio_token_id).reshape(-1)
        n = int(is_audio.sum())
        if n != audio.shape[0]:
            raise ValueError(f"prompt has {n} audio tokens but the audio gives {audio.shape[0]} embeddings")
        index = mx.maximum(mx.cumsum(is_audio.astype(mx.int32)) - 1, 0)  # k-th audio position -> row k
        flat = mx.where(is_audio[:, None], audio[index].astype(x.dtype), x.reshape(-1, x.shape[-1]))
        return flat.reshape(x.shape)

    def decode(self, x: mx.array, cache: list | None = None) -> mx.array:
        """Input embeddings (B, T, hidden) after `cache`'s positions -> logits (B, T, vocab)."""
        lm = self.language_model
        mask = create_attention_mask(x, cache[0] if cache else None)
        for i, layer in enumerate(self.layers):
            x = tap(f"decoder.layers.{i}", layer(x, mask, cache[i] if cache else None))
        x = tap("decoder.norm", lm.model.norm(x))
        head = lm.model.embed_tokens.as_linear if lm.args.tie_word_embeddings else lm.lm_head
        return tap("decoder.logits", head(x))

    def make_cache(self) -> list:
        """An empty KV cache per decoder layer (mlx-lm's)."""
        return self.language_model.make_cache()

    def __call__(self, mel: mx.array, tokens: mx.array) -> mx.array:
        """Teacher-forced logits (B, T, vocab) of a prompt with audio placeholders."""
        return self.decode(self.embed_inputs(tokens, self.embed_audio(mel)))

    def attention_weights(self, x: mx.array, layer: int) -> mx.array:
        """Causal self-attention weights (B, heads, T, T) of decoder `layer` on input embeddings `x`."""
        mask = create_attention_mask(x, None)
        for block in self.layers[:layer]:
            x = block(x, mask)
        attn = self.layers[layer].self_attn
        h = self.layers[layer].input_layernorm(x)
        B, T, _ = h.shape
        q = attn.rope(attn.q_proj(h).reshape(B, T, attn.n_heads, -1).transpose(0, 2, 1, 3))
        k = attn.rope(attn.k_proj(h).reshape(B, T, attn.n_kv_heads, -1).transpose(0, 2, 1, 3))
        k = mx.repeat(k, attn.n_heads // attn.n_kv_heads, axis=1)  # grouped-query heads share keys
        scores = (q * attn.scale) @ k.transpose(0, 1, 3, 2)
        causal = mx.tril(mx.ones((T, T), dtype=mx.bool_))
        return softmax(mx.where(causal, scores, -mx.inf), axis=-1)

    def transcribe(self, audio, **kwargs):
        """Speech (16 kHz array or file) -> `Transcript`; see `generate.transcribe` for the options."""
        from .generate import transcribe

        return transcribe(self, audio, **kwargs)

    def ask(self, audio, question: str, **kwargs) -> str:
        """Answer a question about the audio (the chat prompt); see `generate.ask`."""
        from .generate import ask

        return ask(self, audio, question, **kwargs)
