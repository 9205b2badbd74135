"""Whisper decoding: logit rules and greedy search (beam search follows)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .model import Whisper


def suppress_mask(model: Whisper, vocab: int) -> tuple[mx.array, mx.array]:
    """Additive masks (-inf at suppressed ids): always, and at the first generated position."""
    cfg = model.config
    always = np.zeros(vocab, np.float32)
    always[[t for t in cfg.suppress_tokens if t < vocab]] = -np.inf
    begin = always.copy()
    begin[[t for t in cfg.begin_suppress_tokens if t < vocab]] = -np.inf
    return mx.array(always), mx.array(begin)


def greedy(model: Whisper, audio: mx.array, prompt: list[int], max_new_tokens: int = 224) -> list[int]:
    """Greedy decoding of one audio window after `prompt`; returns the new tokens up to end-of-text."""
    eot = model.config.eos_token_id
    state = model.new_state()
    always, begin = suppress_mask(model, model.config.vocab_size)
    logits = model.logits(mx.array([prompt]), audio, state)[:, -1]
    out: list[int] = []
    for step in range(max_new_tokens):
        logits = logits + (begin if step == 0 else always)
        token = int(mx.argmax(logits, axis=-1).item())
        out.append(token)
        if token == eot or len(prompt) + len(out) >= model.config.max_target_positions:
            break
        logits = model.logits(mx.array([[token]]), audio, state)[:, -1]
    return out
