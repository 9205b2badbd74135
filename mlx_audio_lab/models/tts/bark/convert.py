"""Bark checkpoints -> MLX parameters: two key-map tables (data) and the two transforms they need.

- transformers' layout (suno/bark-small, suno/bark: one `model.safetensors` with `semantic.*`,
  `coarse_acoustics.*`, `fine_acoustics.*`, `codec_model.*`): the MLX names are transformers' names; the causal
  mask buffers (`attn.bias`) are dropped and the fine heads, tied to `input_embeds_layers.{k+1}`, are restored.
- the original suno layout (`text.pt`, `coarse.pt`, `fine.pt`, or `*_2.pt` for the large model; each a dict with
  `model_args` and `model`, keys `_orig_mod.transformer.h.N.attn.c_attn.weight`, ...): read per stage and
  prefixed with the stage's MLX name, then renamed by `SUNO`.
Both layouts fuse q, k, v (`att_proj` / `c_attn`, rows q | k | v); `split_fused_attention` splits them for the
shared MultiHeadAttention.
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule

CODEC = "codec_model."
STAGES = ("semantic", "coarse_acoustics", "fine_acoustics")
SUNO_FILES = {"semantic": "text", "coarse_acoustics": "coarse", "fine_acoustics": "fine"}  # + ".pt" / "_2.pt"

_STAGE = r"(semantic|coarse_acoustics|fine_acoustics)"

HF = KeyMap(name="bark/hf", rules=[
    Rule(rf"{_STAGE}\.layers\.\d+\.attn\.bias", None),  # the causal mask, rebuilt by the attention
    Rule(rf"({_STAGE}\.(?:input_embeds_layer|input_embeds_layers\.\d+|position_embeds_layer)\.weight)", r"\1"),
    Rule(rf"({_STAGE}\.layers\.\d+\.(?:layernorm_[12]|attn\.[qkv]_proj|attn\.out_proj|mlp\.in_proj|mlp\.out_proj)"
         r"\.(?:weight|bias))", r"\1"),
    Rule(rf"({_STAGE}\.layernorm_final\.(?:weight|bias))", r"\1"),
    Rule(rf"({_STAGE}\.(?:lm_head|lm_heads\.\d+)\.weight)", r"\1"),
])

_SUNO_BLOCK = {"ln_1": "layernorm_1", "ln_2": "layernorm_2", "attn.c_proj": "attn.out_proj",
               "mlp.c_fc": "mlp.in_proj", "mlp.c_proj": "mlp.out_proj"}

SUNO = KeyMap(name="bark/suno", rules=[
    Rule(rf"{_STAGE}\.(?:_orig_mod\.)?transformer\.h\.\d+\.attn\.bias", None),  # the causal mask buffer
    Rule(rf"{_STAGE}\.(?:_orig_mod\.)?transformer\.wte\.weight", r"\1.input_embeds_layer.weight"),
    Rule(rf"{_STAGE}\.(?:_orig_mod\.)?transformer\.wtes\.(\d+)\.weight", r"\1.input_embeds_layers.\2.weight"),
    Rule(rf"{_STAGE}\.(?:_orig_mod\.)?transformer\.wpe\.weight", r"\1.position_embeds_layer.weight"),
    Rule(rf"{_STAGE}\.(?:_orig_mod\.)?transformer\.h\.(\d+)\.attn\.([qkv]_proj)\.(weight|bias)",
         r"\1.layers.\2.attn.\3.\4"),
    *[Rule(rf"{_STAGE}\.(?:_orig_mod\.)?transformer\.h\.(\d+)\.{src.replace('.', chr(92) + '.')}\.(weight|bias)",
           rf"\1.layers.\2.{dst}.\3") for src, dst in _SUNO_BLOCK.items()],
    Rule(rf"{_STAGE}\.(?:_orig_mod\.)?transformer\.ln_f\.(weight|bias)", r"\1.layernorm_final.\2"),
    Rule(rf"{_STAGE}\.(?:_orig_mod\.)?(lm_head|lm_heads\.\d+)\.weight", r"\1.\2.weight"),
])

SUNO_ARGS = {"n_layer": "num_layers", "n_head": "num_heads", "n_embd": "hidden_size"}  # model_args -> config


def split_fused_attention(state: dict[str, np.ndarray], fused: str) -> dict[str, np.ndarray]:
    """`...attn.<fused>.weight` (3 x width, width) and `.bias` -> `...attn.q_proj / k_proj / v_proj` (q | k | v)."""
    out = {}
    for k, v in state.items():
        head, _, leaf = k.rpartition(".")
        if head.endswith(f"attn.{fused}"):
            base = head[: -len(fused)]
            for name, part in zip(("q_proj", "k_proj", "v_proj"), np.split(v, 3, axis=0)):
                out[f"{base}{name}.{leaf}"] = part
        else:
            out[k] = v
    return out


def tie_fine_heads(state: dict[str, np.ndarray], n_given: int, n_total: int) -> dict[str, np.ndarray]:
    """Fill absent fine heads from the tied embeddings: `lm_heads.{k}` = `input_embeds_layers.{k + n_given}`."""
    state = dict(state)
    for k in range(n_total - n_given):
        head = f"fine_acoustics.lm_heads.{k}.weight"
        if head not in state:
            state[head] = state[f"fine_acoustics.input_embeds_layers.{k + n_given}.weight"]
    return state


def prepare_hf(state: dict[str, np.ndarray], n_given: int = 1, n_total: int = 8
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(the three GPTs' weights ready for `HF`, the EnCodec weights without their `codec_model.` prefix)."""
    gpts = {k: v for k, v in state.items() if not k.startswith(CODEC)}
    codec = {k[len(CODEC):]: v for k, v in state.items() if k.startswith(CODEC)}
    return tie_fine_heads(split_fused_attention(gpts, "att_proj"), n_given, n_total), codec


def prepare_suno(stages: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The three suno state dicts (stage -> {key: array}) as one dict ready for `SUNO` (stage-prefixed, q/k/v split)."""
    merged = {f"{stage}.{k}": v for stage, state in stages.items() for k, v in state.items()}
    return split_fused_attention(merged, "c_attn")
