"""SNAC checkpoints (`pytorch_model.bin` of hubertsiuzdak/snac_*, the `snac` package's state dict) -> MLX.

Weight norm is folded first (`parametrizations.weight.original0/1`, or older `weight_g/_v`), Snake's `alpha`
(1, C, 1) becomes (C,). The table keeps the Sequential indices and renames only inside the residual units
(`block.0..3` -> the shared `SnakeResidualUnit`'s `snake1, conv1, snake2, conv2`).
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule, apply_keymap, fold_weight_norm
from ..community import add_gains, flat_alphas, fold_gains, reshape_matching, swap_matching

# A residual unit: encoder block N, items 0-2; decoder block N, any item (the snake/convT/noise never nest).
_RU = r"((?:encoder\.block\.\d+\.block\.[012])|(?:decoder\.model\.\d+\.block\.\d+))\.block"

HF_KEYMAP = KeyMap(
    name="snac/upstream",
    rules=[
        Rule(_RU + r"\.0\.alpha", r"\1.snake1.alpha"),
        Rule(_RU + r"\.1\.weight", r"\1.conv1.weight", "conv1d"),
        Rule(_RU + r"\.1\.bias", r"\1.conv1.bias"),
        Rule(_RU + r"\.2\.alpha", r"\1.snake2.alpha"),
        Rule(_RU + r"\.3\.weight", r"\1.conv2.weight", "conv1d"),
        Rule(_RU + r"\.3\.bias", r"\1.conv2.bias"),
        Rule(r"(decoder\.model\.\d+\.block\.1)\.weight", r"\1.weight", "conv_transpose1d"),
        Rule(r"(.+\.(?:to_qkv|to_out)\.weight)", r"\1"),  # Linear: same layout
        Rule(r"(.+\.(?:norm\.(?:weight|bias)|rel_pos\.inv_freq|alpha))", r"\1"),
        Rule(r"(quantizer\.quantizers\.\d+\.codebook\.weight)", r"\1"),
        Rule(r"(.+)\.weight", r"\1.weight", "conv1d"),  # every other weight is a conv's
        Rule(r"(.+)\.bias", r"\1.bias"),
    ],
)


def prepare(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold weight norm (dim 0, torch's default) and flatten Snake's alpha to (C,)."""
    out = fold_weight_norm(state, dim=0)
    return {k: v.reshape(-1) if k.endswith(".alpha") else v for k, v in out.items()}


# mlx-community/snac_* (read by mlx-audio's `SNAC.from_pretrained`): the upstream `config.json` (the `snac.SNAC`
# arguments) and `model.safetensors` with the upstream module tree, every `nn.Sequential` as `.layers.N`,
# weight norm kept as `weight_g` / `weight_v` channels-last (convs: v (out, k, in / groups), g (out, 1, 1);
# transposed convs: v (in, k, out), g (in, 1, 1)) and Snake's alpha as upstream, (1, C, 1).
_SEQ = r"(encoder\.block|decoder\.model)\.layers\.(\d+)"  # an item of the encoder's or the decoder's Sequential
_COMMUNITY_RU = _SEQ + r"\.block\.layers\.(\d+)\.block\.layers"  # a residual unit's Sequential
COMMUNITY_CONV_T = r"decoder\.model\.layers\.\d+\.block\.layers\.1\.weight(?:_v)?"  # a decoder block's conv

MLX_COMMUNITY = KeyMap(
    name="snac/mlx-community",
    rules=[
        Rule(_COMMUNITY_RU + r"\.0\.alpha", r"\1.\2.block.\3.snake1.alpha"),
        Rule(_COMMUNITY_RU + r"\.1\.(weight|bias)", r"\1.\2.block.\3.conv1.\4"),
        Rule(_COMMUNITY_RU + r"\.2\.alpha", r"\1.\2.block.\3.snake2.alpha"),
        Rule(_COMMUNITY_RU + r"\.3\.(weight|bias)", r"\1.\2.block.\3.conv2.\4"),
        Rule(_SEQ + r"\.block\.layers\.(\d+)\.(alpha|weight|bias|linear\.weight)", r"\1.\2.block.\3.\4"),
        Rule(_SEQ + r"\.(alpha|weight|bias|to_qkv\.weight|to_out\.weight|norm\.(?:weight|bias)|rel_pos\.inv_freq)",
             r"\1.\2.\3"),
        Rule(r"(quantizer\.quantizers\.\d+\.(?:in_proj|out_proj|codebook)\.(?:weight|bias))", r"\1"),
    ],
)

_PORT = r"(encoder\.block|decoder\.model)\.(\d+)"
_PORT_RU = _PORT + r"\.block\.(\d+)"
TO_MLX_COMMUNITY = KeyMap(
    name="snac/to-mlx-community",
    rules=[
        Rule(_PORT_RU + r"\.snake1\.alpha", r"\1.layers.\2.block.layers.\3.block.layers.0.alpha"),
        Rule(_PORT_RU + r"\.conv1\.weight", r"\1.layers.\2.block.layers.\3.block.layers.1.weight_v"),
        Rule(_PORT_RU + r"\.conv1\.bias", r"\1.layers.\2.block.layers.\3.block.layers.1.bias"),
        Rule(_PORT_RU + r"\.snake2\.alpha", r"\1.layers.\2.block.layers.\3.block.layers.2.alpha"),
        Rule(_PORT_RU + r"\.conv2\.weight", r"\1.layers.\2.block.layers.\3.block.layers.3.weight_v"),
        Rule(_PORT_RU + r"\.conv2\.bias", r"\1.layers.\2.block.layers.\3.block.layers.3.bias"),
        Rule(_PORT_RU + r"\.(weight|linear\.weight)", r"\1.layers.\2.block.layers.\3.\4_v"),
        Rule(_PORT_RU + r"\.(alpha|bias)", r"\1.layers.\2.block.layers.\3.\4"),
        Rule(_PORT + r"\.(to_qkv\.weight|to_out\.weight|norm\.(?:weight|bias)|rel_pos\.inv_freq)", r"\1.layers.\2.\3"),
        Rule(_PORT + r"\.weight", r"\1.layers.\2.weight_v"),
        Rule(_PORT + r"\.(alpha|bias)", r"\1.layers.\2.\3"),
        Rule(r"(quantizer\.quantizers\.\d+\.(?:in|out)_proj)\.weight", r"\1.weight_v"),
        Rule(r"(quantizer\.quantizers\.\d+\.(?:in_proj\.bias|out_proj\.bias|codebook\.weight))", r"\1"),
    ],
)


def prepare_mlx_community(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold the gains, flatten Snake's alpha to (C,), turn the transposed convs (in, k, out) into (out, k, in)."""
    return flat_alphas(swap_matching(fold_gains(state), COMMUNITY_CONV_T))


def to_mlx_community(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The port's parameters in the community layout (directions = the folded weights, gains = their norms)."""
    out = apply_keymap(params, TO_MLX_COMMUNITY, source="MLX SNAC")
    out = reshape_matching(swap_matching(out, COMMUNITY_CONV_T), r".+\.alpha", (1, -1, 1))
    return add_gains(out)
