"""Chatterbox checkpoints (`s3gen.safetensors`, ...) -> MLX: the key maps as data.

Module names follow the checkpoint, so the tables only fold weight norm (before mapping), move PyTorch's
channels-first conv weights to MLX's channels-last, and name what is deliberately left out. Every other key
must land on a parameter and every parameter must be filled (`convert.loading.fill_model` checks both), so a
block of weights cannot be dropped silently (mlx-audio 0.6.2 left S3Gen's 190 conformer weights at random).
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm
from ....layers.campplus import campplus_rules

S3GEN_KEYMAP = KeyMap(
    name="chatterbox/s3gen",
    rules=[
        # HiFT: transposed convs, Linear layers, then every other weight is a conv's
        Rule(r"(mel2wav\.ups\.\d+)\.weight", r"\1.weight", "conv_transpose1d"),
        Rule(r"(mel2wav\.(?:m_source\.l_linear|f0_predictor\.classifier)\.(?:weight|bias))", r"\1"),
        Rule(r"(mel2wav\..+\.(?:alpha|bias))", r"\1"),
        Rule(r"(mel2wav\..+)\.weight", r"\1.weight", "conv1d"),
        # the flow: the conformer encoder (ESPnet attention names -> layers.relpos_attention's), the estimator
        Rule(r"(flow\.encoder\.(?:up_)?encoders\.\d+\.self_attn)\.linear_q\.(weight|bias)", r"\1.q_proj.\2"),
        Rule(r"(flow\.encoder\.(?:up_)?encoders\.\d+\.self_attn)\.linear_k\.(weight|bias)", r"\1.k_proj.\2"),
        Rule(r"(flow\.encoder\.(?:up_)?encoders\.\d+\.self_attn)\.linear_v\.(weight|bias)", r"\1.v_proj.\2"),
        Rule(r"(flow\.encoder\.(?:up_)?encoders\.\d+\.self_attn)\.linear_out\.(weight|bias)", r"\1.o_proj.\2"),
        Rule(r"(flow\.encoder\.(?:up_)?encoders\.\d+\.self_attn)\.linear_pos\.weight", r"\1.relative_k_proj.weight"),
        Rule(r"(flow\.encoder\.(?:up_)?encoders\.\d+\.self_attn)\.pos_bias_(u|v)", r"\1.bias_\2"),
        Rule(r"flow\.encoder\.up_layer\.conv\.weight", "flow.encoder.up_layer.weight", "conv1d"),
        Rule(r"flow\.encoder\.up_layer\.conv\.bias", "flow.encoder.up_layer.bias"),
        Rule(r"(flow\.encoder\.pre_lookahead_layer\.conv[12])\.weight", r"\1.weight", "conv1d"),
        Rule(r"(flow\.decoder\.estimator\..*(?:block\.0|res_conv|_blocks\.0\.2|final_proj))\.weight", r"\1.weight",
             "conv1d"),
        Rule(r"(flow\..+)", r"\1"),  # embeddings, Linear and LayerNorm weights: same names, same layout
        *campplus_rules(r"speaker_encoder\."),  # CAMPPlus (layers/campplus.py)
        # the S3 tokenizer (ported in models/codecs/s3_tokenizer) and its fixed front-end buffers
        Rule(r"tokenizer\..+", None),
    ],
)


def prepare(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold every weight-normed pair (torch's default dim 0) into its weight."""
    return fold_weight_norm(state, dim=0)

# t3_cfg.safetensors: the Llama backbone under `tfmr.` keeps transformers' names, which mlx-lm's share.
T3_KEYMAP = KeyMap(
    name="chatterbox/t3",
    rules=[
        Rule(r".*rotary_emb\.inv_freq", None),  # recomputed by RoPE
        Rule(r"((?:tfmr|cond_enc|text_emb|speech_emb|text_pos_emb|speech_pos_emb|text_head|speech_head)\..+)",
             r"\1"),
    ],
)

# ve.safetensors: the LSTM and `proj` keep torch's names (layers.lstm.LSTM takes them as they are).
VE_KEYMAP = KeyMap(name="chatterbox/ve", rules=[Rule(r"((?:lstm|proj|similarity_weight|similarity_bias).*)", r"\1")])
