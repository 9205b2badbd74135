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
