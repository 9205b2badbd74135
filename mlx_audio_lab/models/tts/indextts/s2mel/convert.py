"""IndexTTS 2 `s2mel.pth` (`{"net": {"cfm": ..., "length_regulator": ..., "gpt_layer": ...}}`, read by upstream's
`load_checkpoint2`) -> MLX names. `prepare` keeps the `net` dict and folds weight norm; the table makes torch
convolutions channels-last, drops one level of the EnCodec-style `conv.conv` wrappers, and drops what upstream
builds but never calls (x_embedder, cond_embedder, content_mask_embedder, the discrete-content embedding, mask
tokens) and buffers recomputed here (time-embedding frequencies, positions)."""

from __future__ import annotations

import numpy as np

from .....convert.keymap import KeyMap, Rule
from .....convert.weight_norm import fold_state

_E = r"cfm\.estimator\."
_CONV_SLOT = r"(?:[0369]|1[258]|2[147])"  # length_regulator.model: a conv every 3rd slot (conv, norm, Mish)
KEYMAP = KeyMap(
    name="indextts/s2mel.pth",
    rules=[
        Rule(_E + r"(?:x_embedder|cond_embedder|content_mask_embedder)\..*", None),
        Rule(_E + r"(?:input_pos|t_embedder2?\.freqs)", None),
        Rule(r"length_regulator\.(?:embedding|mask_token|extra_codebooks|extra_codebook_mask_tokens|f0_\w+)\b.*",
             None),
        Rule(_E + r"(wavenet\.\w+(?:\.\d+)?)\.conv\.conv\.weight", r"cfm.estimator.\1.conv.weight", "conv1d"),
        Rule(_E + r"(wavenet\.\w+(?:\.\d+)?)\.conv\.conv\.bias", r"cfm.estimator.\1.conv.bias"),
        Rule(_E + r"conv2\.weight", r"cfm.estimator.conv2.weight", "conv1d"),
        Rule(r"(length_regulator\.model\." + _CONV_SLOT + r"\.weight)", r"\1", "conv1d"),
        Rule(r"((?:gpt_layer|length_regulator|cfm)\..+)", r"\1"),
        Rule(r".+", None),  # other `net` modules (load_checkpoint2 reads only MyModel's own)
    ],
)


def prepare(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The flattened checkpoint -> `net`'s modules (DDP `module.` prefixes removed), weight norm folded."""
    net = {k[len("net."):]: v for k, v in state.items() if k.startswith("net.")} or dict(state)
    net = {k.replace(".module.", ".", 1) if ".module." in k else k: v for k, v in net.items()}
    return fold_state(net)
