"""Plain-LLM backbones from mlx-lm, built from a Hugging Face `config.json` dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models import llama

from ..convert.keymap import KeyMap, Rule
from ..convert.validate import checked
from ..taps import tap

# `LlamaForCausalLM` checkpoints -> mlx-lm's Llama under `lm.`: the names agree, so the table only drops keys.
LLAMA_HF = KeyMap(name="llama/hf", rules=[
    Rule(r".*rotary_emb\.inv_freq", None),  # recomputed by RoPE
    Rule(r"(model\..+|lm_head\.weight)", r"lm.\1"),
])
TIED_HEAD = "lm_head.weight"  # absent from the MLX model when the embeddings are tied


@dataclass
class LlamaTTSConfig:
    """A TTS port whose upstream `config.json` is a plain Llama config: the backbone's dict (as mlx-lm reads it,
    missing keys from the port's `DEFAULTS`: the real checkpoint's values) and the port's model type."""

    DEFAULTS: ClassVar[dict[str, Any]] = {}
    llama: dict[str, Any] = field(default_factory=dict)
    model_type: str = ""

    def __post_init__(self) -> None:
        self.llama = {**self.DEFAULTS, **self.llama}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LlamaTTSConfig:
        """From the upstream (Llama) config.json, or from the project's MLX layout (its `llama` block)."""
        return cls(llama=dict(d.get("llama", d)))

    @property
    def vocab_size(self) -> int:
        return int(self.llama["vocab_size"])


def llama_args(config: dict[str, Any]) -> llama.ModelArgs:
    """mlx-lm's Llama arguments from an HF Llama config (transformers 5 keeps rope settings in `rope_parameters`)."""
    c = dict(config)
    rope = c.pop("rope_parameters", None) or {}
    if "rope_theta" in rope:
        c["rope_theta"] = rope["rope_theta"]
    if rope.get("rope_type", "default") not in ("default", None) and not c.get("rope_scaling"):
        c["rope_scaling"] = rope
    c.setdefault("model_type", "llama")
    c.setdefault("tie_word_embeddings", False)
    return checked(llama.ModelArgs.from_dict(c), "config (Llama backbone)")


def llama_model(config: dict[str, Any]) -> llama.Model:
    """An mlx-lm Llama (random weights) with module names of `LlamaForCausalLM` (`model.layers.N`, `lm_head`)."""
    return llama.Model(llama_args(config))


def llama_self_attention(lm: llama.Model, tokens):
    """Causal self-attention probabilities of every block of an mlx-lm Llama on token ids (1, T):
    an array (layers, heads, T, T), from a full pass that re-derives each block's queries and keys."""
    import mlx.core as mx
    from mlx_lm.models.base import create_attention_mask

    h = lm.model.embed_tokens(tokens)
    T = h.shape[1]
    mask = create_attention_mask(h, None)
    causal = mx.tril(mx.ones((T, T), dtype=mx.bool_))
    maps = []
    for block in lm.model.layers:
        a, x = block.self_attn, block.input_layernorm(h)
        q = a.rope(a.q_proj(x).reshape(1, T, a.n_heads, -1).transpose(0, 2, 1, 3))
        k = a.rope(a.k_proj(x).reshape(1, T, a.n_kv_heads, -1).transpose(0, 2, 1, 3))
        k = mx.repeat(k, a.n_heads // a.n_kv_heads, axis=1)  # grouped-query heads share keys
        scores = mx.where(causal, (q * a.scale) @ k.transpose(0, 1, 3, 2), -mx.inf)
        maps.append(mx.softmax(scores.astype(mx.float32), axis=-1)[0])
        h = block(h, mask)
    return mx.stack(maps)


class TappedLlama(nn.Module):
    """An mlx-lm Llama (`self.lm`, upstream names) with taps on the embedding, every block, the norm and logits.

    Shapes: tokens (B, T), hidden (B, T, hidden), logits (B, T, vocab). Ports subclass it and add their prompt.
    """

    codec_folder = "codec"  # where `save_extras` writes the port's codec, beside the language model

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.lm = llama_model(config)

    def save_extras(self, folder) -> None:
        """The project's MLX layout keeps the codec as its own folder (`<folder>/<codec_folder>`)."""
        from pathlib import Path

        from ..convert.save import save_model

        if getattr(self, "codec", None) is not None:
            save_model(self.codec, Path(folder) / self.codec_folder)

    @property
    def layers(self) -> list[nn.Module]:
        return self.lm.model.layers

    def __call__(self, tokens: mx.array, cache: list | None = None) -> mx.array:
        """Token ids (B, T) after `cache`'s positions -> logits (B, T, vocab); taps on every block."""
        from mlx_lm.models.base import create_attention_mask

        lm = self.lm
        h = tap("embed_tokens", lm.model.embed_tokens(tokens))
        mask = create_attention_mask(h, cache[0] if cache else None)
        for i, layer in enumerate(self.layers):
            h = tap(f"layers.{i}", layer(h, mask, cache[i] if cache else None))
        h = tap("norm", lm.model.norm(h))
        head = lm.model.embed_tokens.as_linear if lm.args.tie_word_embeddings else lm.lm_head
        return tap("logits", head(h))

    def make_cache(self) -> list:
        """An empty KV cache per block (mlx-lm's)."""
        return self.lm.make_cache()

    def forward(self):
        """A stateful `forward(tokens (B, T)) -> last logits (B, V)` for `generation.stream`, with its own cache."""
        cache = self.make_cache()
        return lambda tokens: self(tokens, cache)[:, -1, :]


def fill_llama(model: nn.Module, folder, keymap: KeyMap, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> nn.Module:
    """Load an HF Llama folder's weights (or the project's MLX layout, its codec saved beside it) into a port
    whose `lm` is an mlx-lm Llama; a tied head is left out."""
    import json
    from pathlib import Path

    from ..convert.loading import fill_model
    from ..convert.readers import read_state_dict
    from ..convert.save import IDENTITY, is_mlx_layout

    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    state, path = read_state_dict(folder)
    if is_mlx_layout(config):  # MLX names already; the codec loads from its own folder
        keymap, state = IDENTITY, {k: v for k, v in state.items() if not k.startswith("codec.")}
    if model.lm.args.tie_word_embeddings:
        state = {k: v for k, v in state.items() if k != TIED_HEAD}
    return fill_model(model, state, keymap, config, path, dtype, quantize, group_size)
