"""Kokoro checkpoints <-> MLX parameters, as key-map tables (data).

hexgrad `kokoro-v1_0.pth`: a dict of five state dicts (bert, bert_encoder, predictor, text_encoder, decoder),
each with `module.` prefixes (saved from DataParallel) and weight-norm pairs; `prepare` flattens and folds them.

MLX community (`mlx-community/Kokoro-82M-bf16`, read by mlx-audio's `Model.sanitize`): `config.json` (hexgrad's,
`model_type` "kokoro"), `kokoro-v1_0.safetensors` with hexgrad's names *without* `module.`, torch layouts
(conv (out, in, k), transposed conv (in, out, k), Snake alphas (1, C, 1)), weight norm unfolded (weight_g /
weight_v) and InstanceNorm affines absent; `voices/<name>.safetensors` with one tensor "voice" (510, 1, 256).
mlx-audio also accepts its own LSTM names (`Wx_forward`, ...); the table maps them back.
"""

from __future__ import annotations

import re

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm
from ....convert.weight_norm import split_state

_CONV = (r"(.+\.(?:conv1|conv2|conv1x1|convs1\.\d+|convs2\.\d+|noise_convs\.\d+|conv_post|F0_conv|N_conv"
         r"|asr_res\.0|F0_proj|N_proj|cnn\.\d+\.0|pool))\.weight")

HEXGRAD = KeyMap(
    name="kokoro/hexgrad",
    rules=[
        Rule(r"bert\.pooler\.(weight|bias)", None),  # ALBERT's pooler is unused
        Rule(r"bert\.embeddings\.position_ids", None),
        Rule(r"(decoder\.generator\.ups\.\d+)\.weight", r"\1.weight", "conv_transpose1d"),
        Rule(_CONV, r"\1.weight", "conv1d"),
        Rule(r"(.+)", r"\1"),  # every other name is the MLX name
    ],
)

COMMUNITY_FILE = "kokoro-v1_0.safetensors"
_LSTM = {"Wx": "weight_ih", "Wh": "weight_hh", "bias_ih": "bias_ih", "bias_hh": "bias_hh"}
COMMUNITY = KeyMap(
    name="kokoro/mlx-community",
    rules=[
        *[Rule(rf"(.+)\.{a}_{d}", rf"\1.{t}_l0{s}") for a, t in _LSTM.items()
          for d, s in (("forward", ""), ("backward", "_reverse"))],
        *HEXGRAD.rules,
    ],
)

# Optional in checkpoints: InstanceNorm affine parameters (absent from the hexgrad .pth: ones / zeros).
OPTIONAL = re.compile(r".+\.norm\.(weight|bias)$")

# Modules saved with weight norm (weight_g / weight_v, g over dim 0 of the torch layout): the exporter splits
# their folded weights back.
WEIGHT_NORM = re.compile(
    r"(?:text_encoder\.cnn\.\d+\.0|predictor\.(?:F0|N)\.\d+\.(?:conv1|conv2|conv1x1|pool)"
    r"|decoder\.(?:F0_conv|N_conv|asr_res\.0|(?:encode|decode\.\d+)\.(?:conv1|conv2|conv1x1|pool)"
    r"|generator\.(?:ups\.\d+|conv_post|(?:resblocks|noise_res)\.\d+\.convs[12]\.\d+)))\.weight"
)
SNAKE_ALPHA = re.compile(r".+\.alpha[12]\.\d+")
# The tables' MLX layouts undone (MLX -> torch), by transform name.
TO_TORCH = {"conv1d": lambda w: w.transpose(0, 2, 1), "conv_transpose1d": lambda w: w.transpose(2, 0, 1)}


def to_torch_layout(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """MLX parameters -> the unprefixed hexgrad state (torch layouts, weight norm split, default
    InstanceNorm affines left out): what the MLX community file holds. ALBERT's pooler, which Kokoro never
    uses (the loaders drop it), is written as zeros: mlx-audio's strict load wants it."""
    hidden = params["bert_encoder.weight"].shape[1]  # (hidden_dim, ALBERT hidden)
    out: dict[str, np.ndarray] = {"bert.pooler.weight": np.zeros((hidden, hidden), np.float32),
                                  "bert.pooler.bias": np.zeros((hidden,), np.float32)}
    for name, w in params.items():
        w = np.asarray(w, np.float32)
        if OPTIONAL.fullmatch(name) and np.array_equal(w, np.full_like(w, name.endswith("weight"))):
            continue
        _, transform = HEXGRAD.map_key(name)
        w = TO_TORCH[transform](w) if transform else w
        if SNAKE_ALPHA.fullmatch(name):
            w = w.reshape(1, -1, 1)
        out[name] = w
    return split_state(out, WEIGHT_NORM, axis=0, exact=True)


def prepare(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drop `module.` prefixes, fold weight norm, and lay Snake alphas channels-last (1, 1, C)."""
    out = {re.sub(r"^(\w+)\.module\.", r"\1.", k): v for k, v in state.items()}
    out = fold_weight_norm(out, dim=0)
    for k, v in out.items():
        if SNAKE_ALPHA.fullmatch(k):
            out[k] = v.reshape(1, 1, -1)
    return out
