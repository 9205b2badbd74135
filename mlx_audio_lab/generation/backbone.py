"""Plain-LLM backbones from mlx-lm, built from a Hugging Face `config.json` dict."""

from __future__ import annotations

from typing import Any

from mlx_lm.models import llama


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
    return llama.ModelArgs.from_dict(c)


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
