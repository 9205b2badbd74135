"""`model.safetensors` of a DeepFilterNet folder (port names, torch layouts; see onnx_weights.py) -> MLX.

The names already are the MLX module paths; the only change is the conv layout (out, in, kT, kF) ->
(out, kT, kF, in). Transposed depthwise convs (in, 1, kT, kF) take the same transpose (in == out there).
"""

from __future__ import annotations

from ....convert.keymap import KeyMap, Rule

KEYMAP = KeyMap(
    name="deepfilternet/onnx-named",
    rules=[
        Rule(r"(.+\.(?:depthwise|pointwise)\.weight)", r"\1", "conv2d"),
        Rule(r"(enc\.erb_conv0\.weight|erb_dec\.conv(?:\dp|0_out)\.weight)", r"\1", "conv2d"),
        Rule(r"(.+)", r"\1"),  # grouped linears, linears, GRUs, biases: same layout
    ],
)
