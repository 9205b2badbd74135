"""Looking inside Voxtral: the decoder's attention over the audio, and the cost of quantization."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import numpy as np

from .generate import features, greedy
from .model import Voxtral

SECONDS_PER_AUDIO_TOKEN = 0.08  # 4 encoder frames of 20 ms


@dataclass
class AudioAttention:
    """Decoder self-attention of the generated tokens over the audio positions of the prompt."""

    weights: np.ndarray  # (heads, generated tokens, audio tokens)
    tokens: list[int]  # the generated ids (rows)
    share: np.ndarray  # (generated tokens,) attention mass on audio positions, averaged over heads


def audio_attention(model: Voxtral, audio: np.ndarray, layer: int = 0, max_new_tokens: int = 16,
                    language: str | None = "en") -> AudioAttention:
    """Transcribe greedily, then compute `layer`'s attention weights explicitly on prompt + output."""
    mel = mx.array(features(audio, model.config.audio_config["num_mel_bins"]))
    prompt = model.tokenizer.transcription_prompt(mel.shape[0] * model.config.tokens_per_chunk, language)
    out = greedy(model, prompt, mel, max_new_tokens)
    full = mx.array([prompt + out])
    w = np.array(model.attention_weights(model.embed_inputs(full, model.embed_audio(mel)), layer))[0]
    is_audio = np.array(prompt + out) == model.config.audio_token_id
    rows = w[:, len(prompt) - 1 : len(prompt) - 1 + len(out)]  # the positions that predicted each output
    return AudioAttention(rows[:, :, is_audio], out, rows[:, :, is_audio].sum(-1).mean(0))


def quantization_errors(folder: str | Path, bits: tuple[int, ...] = (8, 4), group_size: int = 64,
                        clip: str = "fox", max_new_tokens: int = 24) -> list[dict]:
    """Per bit width: logits error vs fp32 (teacher-forced on fp32's greedy output) and token agreement."""
    from .load import load_model
    from .reference import parity_inputs

    inputs = parity_inputs(Path(folder), clip)
    mel, prompt = mx.array(inputs["mel"]), inputs["prompt"][0].tolist()
    fp = load_model(folder)
    ref_tokens = greedy(fp, prompt, mel, max_new_tokens)
    full = mx.array([prompt + ref_tokens])
    a = np.array(fp(mel, full))
    rows = []
    for b in bits:
        q = load_model(folder, quantize=b, group_size=group_size)
        q_tokens = greedy(q, prompt, mel, max_new_tokens)
        qa = np.array(q(mel, full))
        d = np.abs(a - qa)
        same = next((i for i, (x, y) in enumerate(zip(ref_tokens, q_tokens)) if x != y), len(ref_tokens))
        rows.append({"bits": b, "logits_max_abs": float(d.max()), "logits_rel_err": float(d.max() / np.abs(a).max()),
                     "top1_agreement": float((a.argmax(-1) == qa.argmax(-1)).mean()),
                     "generated": len(q_tokens), "same_prefix": same})
    return rows


def quantization_table(folder: str | Path, bits: tuple[int, ...] = (8, 4)) -> str:
    """Text table of `quantization_errors` (errors to one significant figure)."""
    from ....metrics import sig1

    lines = ["bits  logits max_abs  rel_err  top-1 agreement  greedy tokens equal to fp32"]
    for r in quantization_errors(folder, bits):
        lines.append(f"{r['bits']:>4}  {sig1(r['logits_max_abs']):>14}  {sig1(r['logits_rel_err']):>7}  "
                     f"{r['top1_agreement']:>15.0%}  {r['same_prefix']:>2} of {r['generated']}")
    return "\n".join(lines)
