"""S3TokenizerV2 checkpoints -> MLX: the `s3tokenizer` state dict (what `S3TokenizerV2.init_from_pt` loads, and
what `onnx2torch` makes of the real ONNX file) or Chatterbox's `s3gen` weights, whose keys carry a `tokenizer.` prefix.

The port keeps the upstream module names; only the conv layouts change and the FSQ's `_codebook` level goes.
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule

UPSTREAM_KEYMAP = KeyMap(
    name="s3_tokenizer/upstream",
    rules=[
        Rule(r"encoder\.(conv[12])\.(weight)", r"encoder.\1.\2", "conv1d"),  # (out, in, 3) -> (out, 3, in)
        Rule(r"encoder\.(conv[12])\.(bias)", r"encoder.\1.\2"),
        Rule(r"(encoder\.blocks\.\d+\.attn\.fsmn_block\.weight)", r"\1", "conv1d"),  # (C, 1, 31) -> (C, 31, 1)
        Rule(r"(encoder\.blocks\.\d+\.(?:attn\.(?:query|key|value|out)|attn_ln|mlp\.[02]|mlp_ln)\.(?:weight|bias))",
             r"\1"),
        Rule(r"quantizer\._codebook\.project_down\.(weight|bias)", r"quantizer.project_down.\1"),
    ],
)

CHATTERBOX_PREFIX = "tokenizer."
CHATTERBOX_BUFFERS = ("_mel_filters", "window")  # the front end's tables, rebuilt by the port


def from_chatterbox(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tokenizer's part of Chatterbox's S3Gen state dict, prefix removed, its front-end buffers dropped."""
    n = len(CHATTERBOX_PREFIX)
    return {k[n:]: v for k, v in state.items()
            if k.startswith(CHATTERBOX_PREFIX) and k[n:] not in CHATTERBOX_BUFFERS}
