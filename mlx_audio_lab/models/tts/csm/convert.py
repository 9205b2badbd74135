"""CSM checkpoints (transformers' layout of sesame/csm-1b) -> MLX parameters: a key-map table (data).

The MLX names are transformers' names, so the table is mostly identity. The audio embedding table is stored
once by `save_pretrained` (as `depth_decoder.model.embed_tokens.weight`, tied to the backbone's) and twice by
transformers' converter; the port keeps one, at the backbone. `codec_model.*` is the Mimi checkpoint, loaded
by the Mimi port's own table.
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule

BACKBONE_AUDIO = "backbone_model.embed_tokens.embed_audio_tokens.weight"
DEPTH_AUDIO = "depth_decoder.model.embed_tokens.weight"
CODEC = "codec_model."

_LLAMA = r"(?:self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj|input_layernorm|post_attention_layernorm)\.weight"

HF = KeyMap(
    name="csm/hf",
    rules=[
        Rule(r".*rotary_emb\..*inv_freq", None),  # recomputed by RoPE
        Rule(r"(embed_text_tokens\.weight|lm_head\.weight)", r"\1"),
        Rule(rf"(backbone_model\.layers\.\d+\.{_LLAMA})", r"\1"),
        Rule(r"(backbone_model\.norm\.weight)", r"\1"),
        Rule(r"backbone_model\.embed_tokens\.embed_audio_tokens\.weight", BACKBONE_AUDIO),
        Rule(r"depth_decoder\.model\.embed_tokens\.weight", BACKBONE_AUDIO),
        Rule(rf"(depth_decoder\.model\.layers\.\d+\.{_LLAMA})", r"\1"),
        Rule(r"(depth_decoder\.model\.(?:norm|inputs_embeds_projector)\.weight)", r"\1"),
        Rule(r"(depth_decoder\.codebooks_head\.weight)", r"\1"),
    ],
)


def split_codec(state: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(the language-model weights with one audio table, the Mimi weights without their `codec_model.` prefix)."""
    lm = {k: v for k, v in state.items() if not k.startswith(CODEC)}
    if BACKBONE_AUDIO in lm and DEPTH_AUDIO in lm:
        if not np.array_equal(lm[BACKBONE_AUDIO], lm[DEPTH_AUDIO]):
            raise ValueError("the backbone's and the depth decoder's audio embeddings differ; CSM ties them")
        lm.pop(DEPTH_AUDIO)
    codec = {k[len(CODEC):]: v for k, v in state.items() if k.startswith(CODEC)}
    return lm, codec
