"""Dia checkpoints (transformers' layout of nari-labs/Dia-1.6B) -> MLX parameters: a key-map table (data).

The MLX modules carry transformers' names, so the table is the identity on the weights it lists; the rotary
frequencies and the channel offsets are buffers transformers does not save (recomputed here).
"""

from __future__ import annotations

from ....convert.keymap import KeyMap, Rule

_ATTN = r"(?:self_attention|cross_attention)\.[qkvo]_proj"
_BLOCK = rf"(?:{_ATTN}|mlp\.(?:gate_up_proj|down_proj)|pre_sa_norm|post_sa_norm|pre_ca_norm|pre_mlp_norm)"

HF = KeyMap(
    name="dia/hf",
    rules=[
        Rule(r".*rotary_emb\..*", None),  # recomputed by RoPE
        Rule(r"(model\.encoder\.embedding\.weight)", r"\1"),
        Rule(rf"(model\.(?:encoder|decoder)\.layers\.\d+\.{_BLOCK}\.weight)", r"\1"),
        Rule(r"(model\.(?:encoder|decoder)\.norm\.weight)", r"\1"),
        Rule(r"(model\.decoder\.embeddings\.embed\.weight)", r"\1"),
        Rule(r"(logits_dense\.weight)", r"\1"),
    ],
)
