"""Orpheus 3B (canopylabs/orpheus-3b-0.1-ft) at its real size, seeded weights: the Llama decode step in
tokens/s and audio s/s (7 tokens per SNAC frame, 24000 / 2048 frames per second), against transformers.

Engines, same seeded random weights: `mlx_audio_lab` (this port's Orpheus module through its key map and the
generation loop's forward) and `torch` (transformers' LlamaForCausalLM, KV cache). The 3.3B model is 13 GB in
fp32, so on a CPU the default keeps every width and the 156,940-token head but runs 2 of 28 layers
(--set layers=N; the JSON says so); on a GPU the whole model. Options: steps=N decode steps, prompt=N tokens,
and hidden/vocab/layers to shrink the model for a quick check (the test runs it tiny).
"""

from __future__ import annotations

from .. import harness as h
from .llama_decode import LlamaTTSBench, run_llama_tts

NAME = "orpheus-3b-0.1-ft"
BENCH = LlamaTTSBench(
    NAME, port="mlx_audio_lab.models.tts.orpheus.model:Orpheus",
    config_class="mlx_audio_lab.models.tts.orpheus.config:OrpheusConfig",
    keymap="mlx_audio_lab.models.tts.orpheus.convert:HF", full={"layers": 28, "hidden": 3072, "vocab": 156940},
    tokens_per_audio_s=7 * 24000 / 2048,  # 7 tokens per SNAC frame, a frame per 2048 samples at 24 kHz
    cpu_layers=2, prompt=24, params="3.30B", codec_note="SNAC decode not included")


def run(ctx: h.Context) -> dict:
    return run_llama_tts(ctx, BENCH)


h.register(NAME, "Orpheus 3B, random weights, real widths (CPU: 2/28 layers): decode tokens/s, audio s/s")(run)
