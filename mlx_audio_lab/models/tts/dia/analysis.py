"""Looking inside Dia: which cells of a delayed sequence are codes or BOS / PAD / EOS, what guidance does to the
logits, and where the parameters sit."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .generate import guide
from .model import Dia

KINDS = ("code", "BOS", "PAD", "EOS")


def token_kinds(grid: np.ndarray, bos: int, pad: int, eos: int) -> np.ndarray:
    """Index into KINDS of every cell of an id grid (any shape): 0 code, 1 BOS, 2 PAD, 3 EOS (-1, a reverted
    grid's past-the-end cells, counts as PAD)."""
    g = np.asarray(grid)
    return np.select([g == bos, (g == pad) | (g < 0), g == eos], [1, 2, 3], 0)


def guidance_effect(model: Dia, ids: list[int], sequence: np.ndarray, scales: list[float], top_k: int = 45
                    ) -> dict[str, np.ndarray]:
    """Teacher-forced on a delayed sequence (T, channels), for each guidance scale: the share of (step, channel)
    whose top code differs from the conditional logits' top code, and the mean entropy (bits) of the guided
    distribution (softmax over the kept top-k). Also the conditional and unconditional logits (T-1, C, V)."""
    frames = mx.array(sequence[None, :-1].astype(np.int32))
    both = model(mx.array([ids, [0] * len(ids)]), mx.concatenate([frames, frames]))
    cond, uncond = both[0], both[1]
    top_cond = np.array(mx.argmax(cond, axis=-1))
    changed, entropy = [], []
    for s in scales:  # scale 1 is "off" (transformers and `generate` skip guidance), not cond + 1 (cond - uncond)
        guided = np.array(cond if s == 1 else guide(cond, uncond, s, top_k)).astype(np.float64)
        changed.append(float((guided.argmax(-1) != top_cond).mean()))
        p = np.exp(guided - guided.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        entropy.append(float(-(p * np.log2(np.where(p > 0, p, 1))).sum(-1).mean()))
    return {"scales": np.asarray(scales, float), "changed": np.array(changed), "entropy_bits": np.array(entropy),
            "cond": np.array(cond), "uncond": np.array(uncond)}


def parameter_split(config: dict) -> dict[str, int]:
    """Parameters of each part from a Dia `config.json` dict alone (no weights), for the real size."""
    e, d = config["encoder_config"], config["decoder_config"]

    def attn(width: int, heads: int, kv: int, hd: int, kv_width: int | None = None) -> int:
        return width * heads * hd * 2 + (kv_width or width) * kv * hd * 2

    enc_block = attn(e["hidden_size"], e["num_attention_heads"], e["num_key_value_heads"], e["head_dim"]) \
        + 3 * e["hidden_size"] * e["intermediate_size"] + 2 * e["hidden_size"]
    dec_block = attn(d["hidden_size"], d["num_attention_heads"], d["num_key_value_heads"], d["head_dim"]) \
        + attn(d["hidden_size"], d["cross_num_attention_heads"], d["cross_num_key_value_heads"], d["cross_head_dim"],
               d["cross_hidden_size"]) + 3 * d["hidden_size"] * d["intermediate_size"] + 3 * d["hidden_size"]
    codes = d["num_channels"] * d["vocab_size"] * d["hidden_size"]
    return {"text encoder": e["vocab_size"] * e["hidden_size"] + e["num_hidden_layers"] * enc_block + e["hidden_size"],
            "decoder blocks": d["num_hidden_layers"] * dec_block + d["hidden_size"],
            "code embeddings (9 channels)": codes, "code heads (logits_dense)": codes}
