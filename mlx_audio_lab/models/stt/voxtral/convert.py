"""Voxtral checkpoints -> MLX parameters. Each upstream layout is a key-map table (data).

MLX names follow the hub checkpoint of `mistralai/Voxtral-Mini-3B-2507` (`audio_tower.*`,
`multi_modal_projector.*`, `language_model.model.*`, `language_model.lm_head.weight`), so that layout needs
only the conv transposes; transformers 5 saves `model.audio_tower.*`, `model.language_model.*` (no inner
`.model`) and `lm_head.weight`, mapped back here. The MLX community layout (`mlx-community/Voxtral-*`,
what mlx-audio's converter writes and its `Model` loads) keeps the hub names with convolutions already
channels-last (out, k, in) and may store the language model's linears and embeddings quantized.
"""

from __future__ import annotations

from ....convert.keymap import KeyMap, Rule

HF = KeyMap(
    name="voxtral/hf",
    rules=[
        Rule(r".*rotary_emb\.inv_freq", None),  # recomputed by RoPE
        Rule(r"(?:model\.)?audio_tower\.(conv[12])\.weight", r"audio_tower.\1.weight", "conv1d"),
        Rule(r"(?:model\.)?audio_tower\.(.+)", r"audio_tower.\1"),
        Rule(r"(?:model\.)?multi_modal_projector\.(linear_[12]\.weight)", r"multi_modal_projector.\1"),
        # hub layout (VoxtralForConditionalGeneration of transformers 4.x): a LlamaForCausalLM inside
        Rule(r"language_model\.(model\..+|lm_head\.weight)", r"language_model.\1"),
        # transformers 5 layout: a LlamaModel under model.language_model, the head at the top
        Rule(r"model\.language_model\.(.+)", r"language_model.model.\1"),
        Rule(r"lm_head\.weight", r"language_model.lm_head.weight"),
    ],
)

# With tied word embeddings the MLX model has no separate head: these targets are dropped.
TIED_HEAD = "language_model.lm_head.weight"

# mlx-community / mlx-audio: the port's own names (quantized layers bring `scales` / `biases`).
MLX_COMMUNITY = KeyMap(
    name="voxtral/mlx-community",
    rules=[
        Rule(r".*rotary_emb\.inv_freq", None),
        Rule(r"((?:audio_tower|multi_modal_projector|language_model)\..+)", r"\1"),
    ],
)

# The port's parameters -> the community layout: nothing to rename.
TO_MLX_COMMUNITY = KeyMap(name="voxtral/to-mlx-community", rules=[Rule(r"(.+)", r"\1")])

CONV1 = "audio_tower.conv1.weight"
