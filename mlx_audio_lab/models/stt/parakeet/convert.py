"""Parakeet checkpoints -> MLX parameters, as key-map tables (data).

Layouts: Hugging Face (`nvidia/parakeet-*` conversions for transformers: `model.safetensors`) and the
project's own MLX layout (`convert.save.save_model`, identity map). Module names already match, so the
HF table only re-lays convolutions channels-last, flattens the kernel-1 CTC conv and drops BatchNorm's
step counter.
"""

from __future__ import annotations

from ....convert.keymap import KeyMap, Rule

HF = KeyMap(
    name="parakeet/hf",
    rules=[
        Rule(r".+\.num_batches_tracked", None),
        Rule(r"encoder\.encode_positions\.inv_freq", None),  # recomputed (and non-persistent upstream)
        Rule(r"(encoder\.subsampling\.layers\.\d+)\.weight", r"\1.weight", "conv2d"),
        Rule(r"(encoder\.layers\.\d+\.conv\.(?:pointwise_conv1|depthwise_conv|pointwise_conv2))\.weight",
             r"\1.weight", "conv1d"),
        Rule(r"ctc_head\.weight", r"ctc_head.weight", "squeeze"),
        Rule(r"(encoder\.(?:subsampling|layers)\..+)", r"\1"),
        Rule(r"(ctc_head\.bias|encoder_projector\..+|decoder\.(?:embedding|lstm|decoder_projector)\..+)", r"\1"),
        Rule(r"(decoder\.lstm\.(?:weight|bias)_(?:ih|hh)_l\d+)", r"\1"),
        Rule(r"(joint\.head\.(?:weight|bias))", r"\1"),
    ],
)
