"""Parakeet checkpoints -> MLX parameters, as key-map tables (data).

Layouts: Hugging Face (`nvidia/parakeet-*` conversions for transformers: `model.safetensors`), the MLX
community one (`mlx-community/parakeet-*`, read by mlx-audio: NeMo module names, MLX channels-last
layouts, MLX's fused-bias LSTM, a NeMo `config.json`) and the project's own MLX layout
(`convert.save.save_model`, identity map). Module names already match transformers', so the HF table only
re-lays convolutions channels-last, flattens the kernel-1 CTC conv and drops BatchNorm's step counter.
"""

from __future__ import annotations

import re

import numpy as np

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

# mlx-audio's Parakeet (NeMo names). Suffixes are captured whole so quantized `scales` / `biases` follow.
_L = r"encoder\.layers\.(\d+)\."
MLX_COMMUNITY = KeyMap(
    name="parakeet/mlx-community",
    rules=[
        Rule(r"encoder\.pre_encode\.conv\.(\d+)\.(\w+)", r"encoder.subsampling.layers.\1.\2"),
        Rule(r"encoder\.pre_encode\.out\.(\w+)", r"encoder.subsampling.linear.\1"),
        Rule(_L + r"self_attn\.linear_([qkv])\.(\w+)", r"encoder.layers.\1.self_attn.\2_proj.\3"),
        Rule(_L + r"self_attn\.linear_out\.(\w+)", r"encoder.layers.\1.self_attn.o_proj.\2"),
        Rule(_L + r"self_attn\.linear_pos\.(\w+)", r"encoder.layers.\1.self_attn.relative_k_proj.\2"),
        Rule(_L + r"self_attn\.pos_bias_([uv])", r"encoder.layers.\1.self_attn.bias_\2"),
        Rule(_L + r"conv\.batch_norm\.(\w+)", r"encoder.layers.\1.conv.norm.\2"),
        Rule(r"(encoder\.layers\.\d+\..+)", r"\1"),
        Rule(r"decoder\.decoder_layers\.0\.weight", r"ctc_head.weight", "squeeze"),  # kernel-1 Conv1d
        Rule(r"decoder\.decoder_layers\.0\.bias", r"ctc_head.bias"),
        Rule(r"decoder\.prediction\.embed\.(\w+)", r"decoder.embedding.\1"),
        Rule(r"decoder\.prediction\.dec_rnn\.lstm\.(\d+)\.Wx", r"decoder.lstm.weight_ih_l\1"),
        Rule(r"decoder\.prediction\.dec_rnn\.lstm\.(\d+)\.Wh", r"decoder.lstm.weight_hh_l\1"),
        Rule(r"decoder\.prediction\.dec_rnn\.lstm\.(\d+)\.bias", r"decoder.lstm.bias_ih_l\1"),  # b_ih + b_hh
        Rule(r"joint\.enc\.(\w+)", r"encoder_projector.\1"),
        Rule(r"joint\.pred\.(\w+)", r"decoder.decoder_projector.\1"),
        Rule(r"joint\.joint_net\.2\.(\w+)", r"joint.head.\1"),
    ],
)

# The port's parameters -> mlx-audio's names (the inverse table; CTC head and LSTM biases: see below).
_O = r"encoder\.layers\.(\d+)\."
TO_MLX_COMMUNITY = KeyMap(
    name="parakeet/to-mlx-community",
    rules=[
        Rule(r"encoder\.subsampling\.layers\.(\d+)\.(\w+)", r"encoder.pre_encode.conv.\1.\2"),
        Rule(r"encoder\.subsampling\.linear\.(\w+)", r"encoder.pre_encode.out.\1"),
        Rule(_O + r"self_attn\.([qkv])_proj\.(\w+)", r"encoder.layers.\1.self_attn.linear_\2.\3"),
        Rule(_O + r"self_attn\.o_proj\.(\w+)", r"encoder.layers.\1.self_attn.linear_out.\2"),
        Rule(_O + r"self_attn\.relative_k_proj\.(\w+)", r"encoder.layers.\1.self_attn.linear_pos.\2"),
        Rule(_O + r"self_attn\.bias_([uv])", r"encoder.layers.\1.self_attn.pos_bias_\2"),
        Rule(_O + r"conv\.norm\.(\w+)", r"encoder.layers.\1.conv.batch_norm.\2"),
        Rule(r"(encoder\.layers\.\d+\..+)", r"\1"),
        Rule(r"ctc_head\.(weight|bias)", r"decoder.decoder_layers.0.\1"),
        Rule(r"decoder\.embedding\.(\w+)", r"decoder.prediction.embed.\1"),
        Rule(r"decoder\.lstm\.weight_ih_l(\d+)", r"decoder.prediction.dec_rnn.lstm.\1.Wx"),
        Rule(r"decoder\.lstm\.weight_hh_l(\d+)", r"decoder.prediction.dec_rnn.lstm.\1.Wh"),
        Rule(r"decoder\.lstm\.bias_ih_l(\d+)", r"decoder.prediction.dec_rnn.lstm.\1.bias"),
        Rule(r"decoder\.lstm\.bias_hh_l(\d+)", None),  # folded into bias_ih by `fuse_lstm_biases`
        Rule(r"encoder_projector\.(\w+)", r"joint.enc.\1"),
        Rule(r"decoder\.decoder_projector\.(\w+)", r"joint.pred.\1"),
        Rule(r"joint\.head\.(\w+)", r"joint.joint_net.2.\1"),
    ],
)

CTC_CONV = "decoder.decoder_layers.0.weight"
_HH = re.compile(r"decoder\.lstm\.bias_hh_l(\d+)")


def fuse_lstm_biases(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """MLX's LSTM has one bias per layer: put `bias_ih + bias_hh` in `bias_ih` (then `bias_hh` is dropped)."""
    out = dict(params)
    for k in params:
        m = _HH.fullmatch(k)
        if m:
            out[f"decoder.lstm.bias_ih_l{m.group(1)}"] = params[f"decoder.lstm.bias_ih_l{m.group(1)}"] + params[k]
    return out


def split_lstm_biases(num_layers: int):
    """`complete` for `fill_model`: the fused bias already sits in `bias_ih`, so `bias_hh` is zero."""
    def complete(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for n in range(num_layers):
            b = weights.get(f"decoder.lstm.bias_ih_l{n}")
            if b is not None and f"decoder.lstm.bias_hh_l{n}" not in weights:
                weights[f"decoder.lstm.bias_hh_l{n}"] = np.zeros_like(np.asarray(b))
        return weights
    return complete
