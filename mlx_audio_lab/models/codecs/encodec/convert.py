"""EnCodec checkpoints -> MLX parameters: weight norm folded, then a key-map table (data).

transformers 5 saves weight-normed convs as `conv.parametrizations.weight.original0/1` (older files, such as
facebook/encodec_24khz, as `conv.weight_g/_v`); `fold_weight_norm` turns both into `conv.weight`.
The codebooks' training statistics (`inited`, `cluster_size`, `embed_avg`) are not needed to run.
"""

from __future__ import annotations

import re

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm
from ..seanet_config import transposed_conv_indices
from .config import EncodecConfig


def hf_keymap(cfg: EncodecConfig) -> KeyMap:
    """The table for transformers' EncodecModel; the transposed convs' positions come from the config."""
    up = "|".join(str(i) for i in transposed_conv_indices(cfg, cfg.num_lstm_layers))
    return KeyMap(
        name="encodec/hf",
        rules=[
            Rule(rf"decoder\.layers\.({up})\.conv\.weight", r"decoder.layers.\1.conv.weight", "conv_transpose1d"),
            Rule(r"((?:en|de)coder\.layers\.\d+\.(?:block\.\d+\.|shortcut\.)?conv)\.weight", r"\1.weight", "conv1d"),
            Rule(r"((?:en|de)coder\.layers\.\d+\.(?:block\.\d+\.|shortcut\.)?(?:conv|norm)\.(?:weight|bias))", r"\1"),
            Rule(r"((?:en|de)coder\.layers\.\d+\.lstm\.(?:weight|bias)_(?:ih|hh)_l\d+)", r"\1"),
            Rule(r"(quantizer\.layers\.\d+\.codebook\.embed)", r"\1"),
            Rule(r"quantizer\.layers\.\d+\.codebook\.(?:inited|cluster_size|embed_avg)", None),
        ],
    )


def prepare_hf(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold weight norm (dim 0, torch's default for both conv kinds) before the table is applied."""
    return fold_weight_norm(state, dim=0)


# mlx-community/encodec-* (written by mlx-examples' encodec/convert.py, read as is by mlx-audio's Encodec):
# `model.safetensors` (+ index), the HF `config.json`, HF names with weight norm folded and every conv already
# channels-last (transposed convs too); each LSTM layer N is `lstm.N.Wx`, `lstm.N.Wh` and one `lstm.N.bias`
# = b_ih + b_hh. `split_lstm_bias` gives that sum to b_ih and zeros to b_hh (the port adds them first, so the
# result is exact); `merge_lstm_bias` sums them back for export.
_CONV = r"((?:en|de)coder\.layers\.\d+\.(?:block\.\d+\.|shortcut\.)?(?:conv|norm)\.(?:weight|bias))"
_LSTM = r"((?:en|de)coder\.layers\.\d+)\.lstm"
MLX_COMMUNITY = KeyMap(
    name="encodec/mlx-community",
    rules=[
        Rule(_LSTM + r"\.(\d+)\.Wx", r"\1.lstm.weight_ih_l\2"),
        Rule(_LSTM + r"\.(\d+)\.Wh", r"\1.lstm.weight_hh_l\2"),
        Rule(_LSTM + r"\.(\d+)\.bias_(ih|hh)", r"\1.lstm.bias_\3_l\2"),
        Rule(_CONV, r"\1"),
        Rule(r"(quantizer\.layers\.\d+\.codebook\.embed)", r"\1"),
    ],
)

TO_MLX_COMMUNITY = KeyMap(
    name="encodec/to-mlx-community",
    rules=[
        Rule(_LSTM + r"\.weight_ih_l(\d+)", r"\1.lstm.\2.Wx"),
        Rule(_LSTM + r"\.weight_hh_l(\d+)", r"\1.lstm.\2.Wh"),
        Rule(_LSTM + r"\.bias_l(\d+)", r"\1.lstm.\2.bias"),  # after merge_lstm_bias
        Rule(_CONV, r"\1"),
        Rule(r"(quantizer\.layers\.\d+\.codebook\.embed)", r"\1"),
    ],
)

_COMMUNITY_BIAS = re.compile(_LSTM + r"\.(\d+)\.bias")
_PORT_BIAS = re.compile(_LSTM + r"\.bias_ih_l(\d+)")


def is_mlx_community(state: dict[str, np.ndarray]) -> bool:
    """True for a state dict in the mlx-community layout (its LSTMs have `Wx` weights)."""
    return any(k.endswith(".Wx") for k in state)


def split_lstm_bias(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each community `lstm.N.bias` (b_ih + b_hh) -> `lstm.N.bias_ih` (the sum) and `lstm.N.bias_hh` (zeros)."""
    out = {}
    for k, v in state.items():
        if _COMMUNITY_BIAS.fullmatch(k):
            out[k + "_ih"], out[k + "_hh"] = v, np.zeros_like(v)
        else:
            out[k] = v
    return out


def merge_lstm_bias(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The port's `bias_ih_lN` + `bias_hh_lN` -> one `bias_lN` (the sum the LSTM adds)."""
    out = {k: v for k, v in params.items() if ".lstm.bias_" not in k}
    for k, v in params.items():
        m = _PORT_BIAS.fullmatch(k)
        if m:
            out[f"{m[1]}.lstm.bias_l{m[2]}"] = v + params[k.replace("bias_ih", "bias_hh")]
    return out
