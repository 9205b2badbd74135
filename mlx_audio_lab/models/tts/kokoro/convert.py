"""Kokoro checkpoints -> MLX parameters: the hexgrad `kokoro-v1_0.pth` layout as a key-map table (data).

The .pth is a dict of five state dicts (bert, bert_encoder, predictor, text_encoder, decoder), each with
`module.` prefixes (saved from DataParallel) and weight-norm pairs; `prepare` flattens and folds them.
"""

from __future__ import annotations

import re

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm

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

# Optional in checkpoints: InstanceNorm affine parameters (absent from the hexgrad .pth: ones / zeros).
OPTIONAL = re.compile(r".+\.norm\.(weight|bias)$")


def prepare(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drop `module.` prefixes, fold weight norm, and lay Snake alphas channels-last (1, 1, C)."""
    out = {re.sub(r"^(\w+)\.module\.", r"\1.", k): v for k, v in state.items()}
    out = fold_weight_norm(out, dim=0)
    for k, v in out.items():
        if re.search(r"\.alpha[12]\.\d+$", k):
            out[k] = v.reshape(1, 1, -1)
    return out
