"""Mimi checkpoints -> MLX parameters: codebooks computed from their statistics, then a key-map table (data).

kyutai/mimi (and transformers' `save_pretrained`) store the flat layout: `encoder.layers.N`,
`encoder_transformer.layers.N`, `downsample`, `quantizer.*`, `upsample`, `decoder_transformer`, `decoder.layers.N`.
A codebook is stored as `embed_sum` and `cluster_usage`; the codewords are `embed_sum / max(cluster_usage, 1e-5)`,
computed once here (float32, as transformers does). `initialized` is a training flag, dropped.
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm
from .config import MimiConfig

EPSILON = 1e-5  # transformers' MimiEuclideanCodebook clamp
_RVQ = r"quantizer\.(?:semantic|acoustic)_residual_vector_quantizer"
_TRANSFORMER = r"(?:en|de)coder_transformer\.layers\.\d+"


def hf_keymap(cfg: MimiConfig) -> KeyMap:
    """The table for transformers' MimiModel (flat kyutai/mimi names); transposed convs from the config."""
    up = "|".join(str(i) for i in transposed_conv_indices(cfg))
    return KeyMap(
        name="mimi/hf",
        rules=[
            Rule(rf"decoder\.layers\.({up})\.conv\.weight", r"decoder.layers.\1.conv.weight", "conv_transpose1d"),
            Rule(r"upsample\.conv\.weight", r"upsample.conv.weight"),  # re-laid out in `prepare_hf`
            Rule(r"((?:en|de)coder\.layers\.\d+\.(?:block\.\d+\.|shortcut\.)?conv|downsample\.conv)\.weight",
                 r"\1.weight", "conv1d"),
            Rule(r"((?:en|de)coder\.layers\.\d+\.(?:block\.\d+\.|shortcut\.)?conv\.bias)", r"\1"),
            Rule(rf"({_TRANSFORMER}\.(?:self_attn\.[qkvo]_proj|mlp\.fc[12])\.(?:weight|bias))", r"\1"),
            Rule(rf"({_TRANSFORMER}\.(?:input_layernorm|post_attention_layernorm)\.(?:weight|bias))", r"\1"),
            Rule(rf"({_TRANSFORMER}\.(?:self_attn|mlp)_layer_scale\.scale)", r"\1"),
            Rule(rf"({_RVQ}\.(?:input|output)_proj\.weight)", r"\1", "squeeze"),
            Rule(rf"({_RVQ}\.layers\.\d+\.codebook\.embed)", r"\1"),
            Rule(rf"{_RVQ}\.layers\.\d+\.codebook\.initialized", None),
        ],
    )


def transposed_conv_indices(cfg: MimiConfig) -> list[int]:
    """Positions of the transposed convolutions in `decoder.layers`."""
    out, i = [], 1
    for _ in cfg.upsampling_ratios:
        out.append(i + 1)
        i += 2 + cfg.num_residual_layers
    return out


def codebook_embeddings(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Replace each `embed_sum` / `cluster_usage` pair by the codewords `embed`."""
    out = dict(state)
    for k in [k for k in state if k.endswith(".codebook.embed_sum")]:
        base = k[: -len(".embed_sum")]
        usage = out.pop(base + ".cluster_usage", None)
        if usage is None:
            continue  # left for the key map to report as unexpected / missing
        total = out.pop(k).astype(np.float32)
        out[base + ".embed"] = total / np.maximum(usage.astype(np.float32), np.float32(EPSILON))[:, None]
    return out


def grouped_conv_transpose(w: np.ndarray, groups: int) -> np.ndarray:
    """torch ConvTranspose1d weight (in, out / groups, k) -> MLX (out, k, in / groups)."""
    c_in, out_g, k = w.shape
    w = w.reshape(groups, c_in // groups, out_g, k).transpose(0, 2, 3, 1)  # (groups, out/g, k, in/g)
    return w.reshape(groups * out_g, k, c_in // groups)


def prepare_hf(state: dict[str, np.ndarray], cfg: MimiConfig) -> dict[str, np.ndarray]:
    """Weight norm folded (if a checkpoint carries it), codebooks computed, the grouped upsampling re-laid out."""
    out = codebook_embeddings(fold_weight_norm(state, dim=0))
    if "upsample.conv.weight" in out:
        out["upsample.conv.weight"] = grouped_conv_transpose(out["upsample.conv.weight"], cfg.upsample_groups)
    return out
