"""OuteTTS 1.0 1B (OuteAI/Llama-OuteTTS-1.0-1B) at its real size, seeded weights: the Llama decode step in
tokens/s and audio s/s (2 tokens per DAC frame, 75 frames per second), against transformers.

Engines, same seeded random weights: `mlx_audio_lab` (this port's OuteTTS module through the Llama key map and
its KV-cached forward) and `torch` (transformers' LlamaForCausalLM, KV cache). The prompt defaults to 2000
tokens, the length a shipped speaker profile gives (its words, durations, features and 759 frames of codes).
The word markup the real model writes between code pairs (about 10 tokens a word) is not counted, so audio
s/s is an upper bound. Options: steps=N, prompt=N, and hidden/vocab/layers to shrink the model for a check.
"""

from __future__ import annotations

from .. import harness as h
from .llama_decode import LlamaTTSBench, run_llama_tts

NAME = "llama-outetts-1.0-1b"  # CPU default: 2/16 layers (the full 1B with its 2000-token prompt ran > 900 s)
BENCH = LlamaTTSBench(
    NAME, port="mlx_audio_lab.models.tts.outetts.model:OuteTTS",
    config_class="mlx_audio_lab.models.tts.outetts.config:OuteTTSConfig",
    keymap="mlx_audio_lab.generation.backbone:LLAMA_HF", full={"layers": 16, "hidden": 2048, "vocab": 134400},
    tokens_per_audio_s=2 * 75,  # <|c1_a|><|c2_b|> per DAC frame, 24000 / 320 frames per second
    cpu_layers=2, prompt=2000, params="1.25B", codec_note="DAC decode not included")


def run(ctx: h.Context) -> dict:
    return run_llama_tts(ctx, BENCH)


h.register(NAME, "OuteTTS 1.0 1B, random weights, real widths: decode tokens/s after a speaker-profile prompt")(run)
