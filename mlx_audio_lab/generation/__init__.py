"""Shared generation machinery for LM-driven ports: processors, samplers with explicit draws, the loop.

- `processors`: pure functions on logits (B, V), each equal to its transformers counterpart:
  `temperature(l, t)`, `top_k(l, k)`, `top_p(l, p)`, `min_p(l, p)`, `repetition_penalty(l, prev, penalty)`,
  `cfg(cond, uncond, scale)`.
- `sampling`: `SamplingConfig(temperature, top_k, top_p, min_p, repetition_penalty, cfg_scale)` (temperature
  0 = greedy), draws sources (`Draws` protocol `next(batch) -> np.ndarray in [0, 1)`, `SeededDraws(seed)`,
  `RecordedDraws(array)`), `process(logits, config, previous_tokens)` (transformers' order) and
  `sample(logits, config, draws, previous_tokens) -> tokens (B,)`: inverse CDF over the processed
  probabilities in vocabulary order (`pick_inverse_cdf`, numpy, shared with the PyTorch twin).
- `loop`: `stream(forward, prompt, config, draws, max_steps=, stop_tokens=, trace=)` yields a `Step` per
  token (tokens, seconds, logits per processor stage when traced); `forward(tokens (B, T)) -> logits (B, V)`
  keeps its KV cache (`lm_forward(mlx_lm_model)`); `generate` collects; `teacher_forced_logits` for parity.
- `backbone`: mlx-lm Llama from an HF config (`llama_model`), `TappedLlama` (taps, KV cache, `forward()`) that
  ports subclass, `LLAMA_HF` key map; `designed`: tiny tokenizers and embeddings for fixtures whose greedy
  continuation walks varied audio codes. `SamplingConfig.repetition_window` limits the penalty to the last N tokens.
"""

from __future__ import annotations

from . import processors
from .loop import Step, generate, lm_forward, stream, teacher_forced_logits
from .sampling import GREEDY, Draws, RecordedDraws, SamplingConfig, SeededDraws, pick_inverse_cdf, process, sample

__all__ = [
    "GREEDY", "Draws", "RecordedDraws", "SamplingConfig", "SeededDraws", "Step", "generate", "lm_forward",
    "pick_inverse_cdf", "process", "processors", "sample", "stream", "teacher_forced_logits",
]
