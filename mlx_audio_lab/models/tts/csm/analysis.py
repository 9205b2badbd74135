"""Looking inside CSM: the backbone's attention over the prompt and frames, and what bf16 / 4- and 8-bit cost."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import numpy as np

from .generate import Segment, generate_codes, prompt_for
from .model import Csm


@dataclass
class BackboneAttention:
    """Backbone self-attention of one layer over a prompt followed by generated frames."""

    weights: np.ndarray  # (heads, positions, positions)
    prompt_length: int  # positions before the first frame
    audio_positions: np.ndarray  # (positions,) True where a context frame stands in the prompt


def backbone_attention(model: Csm, prompt: list[int], codes: np.ndarray, context: np.ndarray | None = None,
                       layer: int = 0) -> BackboneAttention:
    """Causal attention weights of backbone `layer` on prompt + frames (codes: codebooks x frames), through the
    generation core's `llama_self_attention` (given CSM's input embeddings in place of a token table)."""
    from types import SimpleNamespace

    from ....generation.backbone import llama_self_attention

    ctx = None if context is None else mx.array(context.astype(np.int32))
    x = mx.concatenate([model.embed_prompt(mx.array([prompt]), ctx),
                        model.embed_frames(mx.array(codes.T[None, :-1].astype(np.int32)))], axis=1)
    lm = SimpleNamespace(model=SimpleNamespace(embed_tokens=lambda _ids: x, layers=model.backbone_model.layers))
    T = x.shape[1]
    w = np.array(llama_self_attention(lm, mx.zeros((1, T), mx.int32))[layer])
    return BackboneAttention(w, len(prompt), np.array(prompt + [-1] * (T - len(prompt))) == model.config.audio_token_id)


def variant_agreement(folder: str | Path, variants: tuple = ("bfloat16", 8, 4), text: str = "Hello from Sesame.",
                      speaker: int = 0, context: list[Segment] | None = None, max_frames: int = 32,
                      group_size: int = 64) -> list[dict]:
    """Per variant (bf16, or quantized bits): greedy codes against fp32's (share equal, frames before the first
    difference) and teacher-forced logits on fp32's codes (max-abs error, top-1 agreement), backbone and depth."""
    from .load import load_model

    fp = load_model(folder)
    prompt, ctx = prompt_for(fp, text, speaker, context)
    ref = generate_codes(fp, prompt, ctx, max_frames)
    ctx_mx = None if ctx is None else mx.array(ctx.astype(np.int32))
    tf = [np.array(a.astype(mx.float32)) for a in fp(mx.array([prompt]), mx.array(ref.T.astype(np.int32)), ctx_mx)]
    rows = []
    for v in variants:
        kw = {"dtype": mx.bfloat16} if v == "bfloat16" else {"quantize": v, "group_size": group_size}
        m = load_model(folder, **kw)
        got = generate_codes(m, prompt, ctx, max_frames)
        out = [np.array(a.astype(mx.float32)) for a in m(mx.array([prompt]), mx.array(ref.T.astype(np.int32)), ctx_mx)]
        n = min(got.shape[1], ref.shape[1])
        differ = np.flatnonzero((got[:, :n] != ref[:, :n]).any(axis=0))
        rows.append({
            "variant": v if v == "bfloat16" else f"{v}-bit", "frames": n,
            "codes_equal": float((got[:, :n] == ref[:, :n]).mean()),
            "same_prefix_frames": int(differ[0]) if differ.size else n,
            "backbone_logits_max_abs": float(np.abs(out[0] - tf[0]).max()),
            "backbone_top1": float((out[0].argmax(-1) == tf[0].argmax(-1)).mean()),
            "depth_logits_max_abs": float(np.abs(out[1] - tf[1]).max()),
            "depth_top1": float((out[1].argmax(-1) == tf[1].argmax(-1)).mean()),
        })
    return rows


def agreement_table(rows: list[dict]) -> str:
    """Text table of `variant_agreement` (errors to one significant figure, shares as percentages)."""
    from ....metrics import sig1

    lines = ["variant   greedy codes = fp32  frames before 1st diff  backbone top-1  depth top-1  "
             "backbone logits err  depth logits err"]
    for r in rows:
        lines.append(f"{r['variant']:<8}  {r['codes_equal']:>19.0%}  {r['same_prefix_frames']:>11} of {r['frames']:<8}"
                     f"  {r['backbone_top1']:>14.0%}  {r['depth_top1']:>11.0%}"
                     f"  {sig1(r['backbone_logits_max_abs']):>19}  {sig1(r['depth_logits_max_abs']):>16}")
    return "\n".join(lines)


def chosen_probabilities(model: Csm, prompt: list[int], codes: np.ndarray, context: np.ndarray | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forced on generated codes (codebooks, frames): the probability each chosen code had, and the
    entropy (bits) of each step's distribution, both (codebooks, frames); row 0 is the backbone's, rows 1..N-1
    the depth decoder's."""
    ctx = None if context is None else mx.array(context.astype(np.int32))
    backbone, depth = model(mx.array([prompt]), mx.array(codes.T.astype(np.int32)), ctx)
    logits = np.concatenate([np.array(backbone)[:, None], np.array(depth)], axis=1).astype(np.float64)  # (F, N, V)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    chosen = np.take_along_axis(p, codes.T[..., None], axis=-1)[..., 0]
    entropy = -(p * np.log2(np.maximum(p, 1e-30))).sum(-1)
    return chosen.T, entropy.T


def parameter_split(model: Csm) -> dict[str, int]:
    """Parameters of each part: text embeddings, audio embeddings, backbone blocks + head, depth decoder, codec."""
    from mlx.utils import tree_flatten

    def count(module) -> int:
        return sum(v.size for _, v in tree_flatten(module.parameters()))

    bb, dd = model.backbone_model, model.depth_decoder
    audio = bb.embed_tokens.embed_audio_tokens.weight.size
    return {"text embeddings": count(model.embed_text_tokens), "audio embeddings (shared)": audio,
            "backbone blocks + codebook-0 head": count(bb) - audio + count(model.lm_head),
            "depth decoder + codebook heads": count(dd), "Mimi codec": count(model.codec_model)}


def config_parameter_split(config: dict) -> dict[str, int]:
    """Parameters of each part from a CSM `config.json` dict alone (no weights): for the real size."""
    def block(c: dict) -> int:  # q, k, v, o; gate, up, down; two norms
        hd = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        return (c["hidden_size"] * hd * (2 * c["num_attention_heads"] + 2 * c["num_key_value_heads"])
                + 3 * c["hidden_size"] * c["intermediate_size"] + 2 * c["hidden_size"])

    d, dd, n, v = config["hidden_size"], config["depth_decoder_config"], config["num_codebooks"], config["vocab_size"]
    return {"text embeddings": config["text_vocab_size"] * d, "audio embeddings (shared)": n * v * d,
            "backbone blocks + codebook-0 head": config["num_hidden_layers"] * block(config) + d + v * d,
            "depth decoder + codebook heads": dd["num_hidden_layers"] * block(dd) + dd["hidden_size"]
            + d * dd["hidden_size"] + (n - 1) * dd["hidden_size"] * v}
