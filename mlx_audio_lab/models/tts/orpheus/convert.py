"""Orpheus checkpoints -> MLX parameters: `LlamaForCausalLM` names are mlx-lm's, so the table only drops keys."""

from __future__ import annotations

from ....convert.keymap import KeyMap, Rule

HF = KeyMap(
    name="orpheus/hf",
    rules=[
        Rule(r".*rotary_emb\.inv_freq", None),  # recomputed by RoPE
        Rule(r"(model\..+|lm_head\.weight)", r"lm.\1"),
    ],
)

TIED_HEAD = "lm_head.weight"  # absent from the MLX model when the embeddings are tied
