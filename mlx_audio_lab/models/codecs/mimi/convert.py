"""Mimi checkpoints -> MLX parameters: codebooks computed from their statistics, then a key-map table (data).

Two upstream layouts: transformers' (below) and Kyutai's original moshi checkpoint (further down), the one
mlx-audio reads. kyutai/mimi (and transformers' `save_pretrained`) store the flat layout: `encoder.layers.N`,
`encoder_transformer.layers.N`, `downsample`, `quantizer.*`, `upsample`, `decoder_transformer`, `decoder.layers.N`.
A codebook is stored as `embed_sum` and `cluster_usage`; the codewords are `embed_sum / max(cluster_usage, 1e-5)`,
computed once here (float32, as transformers does). `initialized` is a training flag, dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from ....convert.keymap import KeyMap, Rule, apply_keymap, fold_weight_norm
from ..seanet_config import transposed_conv_indices
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


def codebook_embeddings(state: dict[str, np.ndarray], total: str = "embed_sum") -> dict[str, np.ndarray]:
    """Replace each `X.<total>` / `X.cluster_usage` pair by the codewords `X.embed`."""
    out = dict(state)
    for k in [k for k in state if k.endswith(f".{total}")]:
        base = k[: -len(total) - 1]
        usage = out.pop(base + ".cluster_usage", None)
        if usage is None:
            continue  # left for the key map to report as unexpected / missing
        summed = out.pop(k).astype(np.float32)
        out[base + ".embed"] = summed / np.maximum(usage.astype(np.float32), np.float32(EPSILON))[:, None]
    return out


def grouped_conv_transpose(w: np.ndarray, groups: int) -> np.ndarray:
    """torch ConvTranspose1d weight (in, out / groups, k) -> MLX (out, k, in / groups)."""
    c_in, out_g, k = w.shape
    w = w.reshape(groups, c_in // groups, out_g, k).transpose(0, 2, 3, 1)  # (groups, out/g, k, in/g)
    return w.reshape(groups * out_g, k, c_in // groups)


def grouped_conv_transpose_back(w: np.ndarray, groups: int) -> np.ndarray:
    """MLX (out, k, in / groups) -> torch ConvTranspose1d (in, out / groups, k): the inverse of the above."""
    c_out, k, in_g = w.shape
    w = w.reshape(groups, c_out // groups, k, in_g).transpose(0, 3, 1, 2)  # (groups, in/g, out/g, k)
    return w.reshape(groups * in_g, c_out // groups, k)


def prepare_hf(state: dict[str, np.ndarray], cfg: MimiConfig) -> dict[str, np.ndarray]:
    """Weight norm folded (if a checkpoint carries it), codebooks computed, the grouped upsampling re-laid out."""
    out = codebook_embeddings(fold_weight_norm(state, dim=0))
    if "upsample.conv.weight" in out:
        out["upsample.conv.weight"] = grouped_conv_transpose(out["upsample.conv.weight"], cfg.upsample_groups)
    return out


# --- Kyutai's original checkpoint (moshi's `MimiModel`, e.g. tokenizer-e351c8d8-checkpoint125.safetensors) ---------
# The layout mlx-audio's `Mimi.load_pytorch_weights` and moshi_mlx read. SEANet keeps moshi's Sequential
# (`encoder.model.N`, same indices as the port), each conv wrapped twice (`conv.conv`, `convtr.convtr`); the
# transformers sit under `.transformer`, attention fuses q, k, v in `in_proj_weight` with rotary pairs interleaved
# (the port, like transformers, rotates halves); codebooks are `_codebook.embedding_sum` / `cluster_usage`.
# Rows: (Kyutai name, port name, layout change on the way in); `{slot}`s stand for the parts that vary.
_SLOTS = {"i": r"\d+", "side": "en|de", "qkv": "[qkv]", "wb": "weight|bias", "io": "input|output", "rvq": "first|rest"}
_TF = "{side}coder_transformer.transformer.layers.{i}"
_PORT_TF = "{side}coder_transformer.layers.{i}"
MOSHI_TABLE: list[tuple[str, str | None, str | None]] = [
    ("decoder.model.{i}.convtr.convtr.weight", "decoder.layers.{i}.conv.weight", "conv_transpose1d"),
    ("decoder.model.{i}.convtr.convtr.bias", "decoder.layers.{i}.conv.bias", None),
    ("{side}coder.model.{i}.conv.conv.weight", "{side}coder.layers.{i}.conv.weight", "conv1d"),
    ("{side}coder.model.{i}.conv.conv.bias", "{side}coder.layers.{i}.conv.bias", None),
    ("{side}coder.model.{i}.block.{i}.conv.conv.weight", "{side}coder.layers.{i}.block.{i}.conv.weight", "conv1d"),
    ("{side}coder.model.{i}.block.{i}.conv.conv.bias", "{side}coder.layers.{i}.block.{i}.conv.bias", None),
    ("{side}coder.model.{i}.shortcut.conv.conv.weight", "{side}coder.layers.{i}.shortcut.conv.weight", "conv1d"),
    ("{side}coder.model.{i}.shortcut.conv.conv.bias", "{side}coder.layers.{i}.shortcut.conv.bias", None),
    ("downsample.conv.conv.conv.weight", "downsample.conv.weight", "conv1d"),
    ("upsample.convtr.convtr.convtr.weight", "upsample.conv.weight", None),  # grouped: `prepare_moshi` re-lays it
    (_TF + ".self_attn.{qkv}_proj.weight", _PORT_TF + ".self_attn.{qkv}_proj.weight", None),  # split `in_proj_weight`
    (_TF + ".self_attn.out_proj.{wb}", _PORT_TF + ".self_attn.o_proj.{wb}", None),
    (_TF + ".norm1.{wb}", _PORT_TF + ".input_layernorm.{wb}", None),
    (_TF + ".norm2.{wb}", _PORT_TF + ".post_attention_layernorm.{wb}", None),
    (_TF + ".linear1.{wb}", _PORT_TF + ".mlp.fc1.{wb}", None),
    (_TF + ".linear2.{wb}", _PORT_TF + ".mlp.fc2.{wb}", None),
    (_TF + ".layer_scale_1.scale", _PORT_TF + ".self_attn_layer_scale.scale", None),
    (_TF + ".layer_scale_2.scale", _PORT_TF + ".mlp_layer_scale.scale", None),
    ("quantizer.rvq_first.{io}_proj.weight", "quantizer.semantic_residual_vector_quantizer.{io}_proj.weight",
     "squeeze"),
    ("quantizer.rvq_rest.{io}_proj.weight", "quantizer.acoustic_residual_vector_quantizer.{io}_proj.weight",
     "squeeze"),
    ("quantizer.rvq_first.vq.layers.{i}._codebook.embed",  # computed from embedding_sum / cluster_usage
     "quantizer.semantic_residual_vector_quantizer.layers.{i}.codebook.embed", None),
    ("quantizer.rvq_rest.vq.layers.{i}._codebook.embed",
     "quantizer.acoustic_residual_vector_quantizer.layers.{i}.codebook.embed", None),
    ("quantizer.rvq_{rvq}.vq.layers.{i}._codebook._initialized", None, None),  # a training flag
]
_SLOT = re.compile(r"\{(\w+)\}")
MOSHI_WEIGHTS = "tokenizer-e351c8d8-checkpoint125.safetensors"  # the name Kyutai's repos (and mlx-audio) use
_MOSHI_SIGNATURE = "quantizer.rvq_first."  # a key prefix no other Mimi layout has


def _pattern(template: str, fixed: dict[str, str] | None = None) -> str:
    """A template as a regex: every `{slot}` a group (`fixed` narrows a slot's alternatives)."""
    parts = _SLOT.split(template)  # literal, slot, literal, slot, ...
    return "".join(f"({(fixed or {}).get(p, _SLOTS[p])})" if n % 2 else re.escape(p) for n, p in enumerate(parts))


def _target(template: str) -> str:
    """A template as a substitution: the n-th `{slot}` becomes the n-th group."""
    count = iter(range(1, 100))
    return _SLOT.sub(lambda _: f"\\{next(count)}", template)


def moshi_keymap() -> KeyMap:
    """Kyutai's names -> the port's, once `prepare_moshi` has split attention and computed the codebooks."""
    return KeyMap(name="mimi/moshi", rules=[
        Rule(_pattern(src), _target(dst) if dst else None, layout) for src, dst, layout in MOSHI_TABLE])


def to_moshi_keymap(cfg: MimiConfig) -> KeyMap:
    """The port's names -> Kyutai's; which `decoder.layers.N` are transposed convs comes from the config."""
    up = {"i": "|".join(str(i) for i in transposed_conv_indices(cfg))}
    rules = []
    for src, dst, _ in MOSHI_TABLE:
        if dst is not None:
            rules.append(Rule(_pattern(dst, up if ".convtr." in src else None), _target(src)))
    return KeyMap(name="mimi/to-moshi", rules=rules)


def is_moshi_state(keys: Iterable[str]) -> bool:
    """True when a checkpoint's names are Kyutai's (moshi's split quantizer `rvq_first`)."""
    return any(k.startswith(_MOSHI_SIGNATURE) for k in keys)


def rotary_interleaved_to_halves(w: np.ndarray, heads: int) -> np.ndarray:
    """q / k projection rows: per head, rotary pairs (0, 1), (2, 3), ... -> first half, second half."""
    rows, dims = w.shape
    return w.reshape(heads, rows // heads // 2, 2, dims).transpose(0, 2, 1, 3).reshape(rows, dims)


def rotary_halves_to_interleaved(w: np.ndarray, heads: int) -> np.ndarray:
    """The inverse of `rotary_interleaved_to_halves`."""
    rows, dims = w.shape
    return w.reshape(heads, 2, rows // heads // 2, dims).transpose(0, 2, 1, 3).reshape(rows, dims)


def _qkv_rows(cfg: MimiConfig) -> list[int]:
    return [cfg.num_attention_heads * cfg.head_dim] + 2 * [cfg.num_key_value_heads * cfg.head_dim]


# Newer moshi releases name the attention projections per step (`in_projs.0`, `out_projs.0`); same weights.
_ALIASES = {"in_projs.0.weight": "in_proj_weight", "in_proj.weight": "in_proj_weight",
            "out_projs.0.weight": "out_proj.weight"}
_ATTENTION = re.compile(r"(.+\.self_attn\.)(" + "|".join(re.escape(a) for a in _ALIASES) + ")")


def _canonical(key: str) -> str:
    m = _ATTENTION.fullmatch(key)
    return m[1] + _ALIASES[m[2]] if m else key


def prepare_moshi(state: dict[str, np.ndarray], cfg: MimiConfig) -> dict[str, np.ndarray]:
    """Codebooks computed, `in_proj_weight` split into q, k, v (q, k rotary rows to halves), upsampling re-laid out."""
    out = {_canonical(k): v for k, v in state.items()}
    out = codebook_embeddings(out, total="embedding_sum")
    heads = (cfg.num_attention_heads, cfg.num_key_value_heads, None)
    for key in [k for k in out if k.endswith(".self_attn.in_proj_weight")]:
        fused, base = out.pop(key), key[: -len("in_proj_weight")]
        if fused.shape[0] != sum(_qkv_rows(cfg)):
            raise ValueError(f"{key} has shape {fused.shape}; the config asks for {sum(_qkv_rows(cfg))} rows (q, k, v "
                             f"of {cfg.num_attention_heads} / {cfg.num_key_value_heads} heads x {cfg.head_dim})")
        for name, w, h in zip("qkv", np.split(fused, np.cumsum(_qkv_rows(cfg))[:-1]), heads):
            out[f"{base}{name}_proj.weight"] = w if h is None else rotary_interleaved_to_halves(w, h)
    up = "upsample.convtr.convtr.convtr.weight"
    if up in out:
        out[up] = grouped_conv_transpose(out[up], cfg.upsample_groups)
    return out


_BACK = {"conv1d": lambda w: w.transpose(0, 2, 1), "conv_transpose1d": lambda w: w.transpose(2, 0, 1),
         "squeeze": lambda w: w[..., None]}  # the inverse of each layout change in MOSHI_TABLE


def to_moshi(params: dict[str, np.ndarray], cfg: MimiConfig) -> dict[str, np.ndarray]:
    """The port's parameters in Kyutai's layout: torch conv layouts, fused interleaved attention, codebooks as
    `embedding_sum` with `cluster_usage` 1 (so the codewords come back exactly), `_initialized` set."""
    state = apply_keymap(params, to_moshi_keymap(cfg), source="MLX Mimi")
    forward = moshi_keymap()
    out: dict[str, np.ndarray] = {}
    for key, w in state.items():
        layout = forward.map_key(key)[1]
        out[key] = _BACK[layout](w) if layout else w
    for key in [k for k in out if k.endswith(".self_attn.q_proj.weight")]:
        base = key[: -len("q_proj.weight")]
        q, k, v = (out.pop(f"{base}{n}_proj.weight") for n in "qkv")
        out[f"{base}in_proj_weight"] = np.concatenate([rotary_halves_to_interleaved(q, cfg.num_attention_heads),
                                                       rotary_halves_to_interleaved(k, cfg.num_key_value_heads), v])
    for key in [k for k in out if k.endswith("._codebook.embed")]:
        base, embed = key[: -len(".embed")], out.pop(key)
        out[f"{base}.embedding_sum"] = embed
        out[f"{base}.cluster_usage"] = np.ones(embed.shape[:1], embed.dtype)
        out[f"{base}._initialized"] = np.ones((1,), embed.dtype)
    up = "upsample.convtr.convtr.convtr.weight"
    out[up] = grouped_conv_transpose_back(out[up], cfg.upsample_groups)
    return out
