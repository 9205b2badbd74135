"""Greedy decoders over the encoder output: CTC best path, RNN-T and TDT frame-synchronous search.

The transducer loops follow transformers' `ParakeetRNNTGenerationMixin` / `ParakeetTDTGenerationMixin`
(and NeMo's greedy decoding): the sequence starts with the blank, the prediction network only runs on a
non-blank label, RNN-T advances one frame on blank (or after `max_symbols_per_step` labels at a frame),
TDT advances by the predicted duration (at least one frame on blank).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

from ....layers.ctc import CTCToken, collapse, greedy_path
from ....taps import tap

if TYPE_CHECKING:
    from .model import Parakeet


@dataclass
class Steps:
    """Every decoding step: label (blanks included, the start blank first), frame advance, frame index."""

    tokens: list[int] = field(default_factory=list)
    durations: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)

    def emitted(self, blank: int, decoder: str) -> list[CTCToken]:
        """Non-blank labels with their frame span [start, end) (TDT: the predicted duration, else 1 frame)."""
        out = []
        for tok, dur, frame in zip(self.tokens[1:], self.durations[1:], self.frames[1:]):
            if tok != blank:
                out.append(CTCToken(tok, frame, frame + (dur if decoder == "tdt" else 1)))
        return out


def ctc_greedy(logits: mx.array, valid: int, blank: int) -> tuple[np.ndarray, list[CTCToken]]:
    """(T, vocab) logits -> (per-frame best labels, padded frames set to blank; collapsed tokens)."""
    path = greedy_path(logits.astype(mx.float32))
    path[valid:] = blank
    return path, collapse(path[:valid], blank)


def transducer_greedy(model: Parakeet, enc: mx.array, valid: int, offset: int = 0,
                      max_steps: int | None = None) -> Steps:
    """Greedy RNN-T / TDT decoding of one utterance's projected encoder states `enc` (T, H).

    `offset` is added to the recorded frame indices (chunked audio); `max_steps` caps the sequence length
    (transformers: `max_symbols_per_step` x encoder frames, the start blank included).
    """
    cfg = model.config
    blank, V, tdt = cfg.blank, cfg.vocab_size, cfg.decoder == "tdt"
    T = enc.shape[0]
    max_len = max_steps if max_steps is not None else cfg.max_symbols_per_step * T
    steps = Steps([blank], [0], [offset])
    t, symbols, state, dec = 0, 0, None, None
    while t < valid and len(steps.tokens) < max_len:
        last = steps.tokens[-1]
        if dec is None or last != blank:  # the prediction network moves only on a new label
            dec, state = model.decoder(mx.array([last]), state)
            tap("decoder", dec[:, None])
        logits = model.joint(enc[min(t, T - 1)][None], dec)[0]
        tap("joint", logits[None, None, None])
        if tdt:
            tok = int(mx.argmax(logits[:V]).item())
            dur = cfg.durations[int(mx.argmax(logits[V:]).item())]
            if tok == blank and dur == 0:
                dur = 1
        else:
            tok = int(mx.argmax(logits).item())
            symbols = 0 if tok == blank else symbols + 1
            dur = 1 if tok == blank or symbols >= cfg.max_symbols_per_step else 0
            if dur and tok != blank:
                symbols = 0
        steps.tokens.append(tok)
        steps.durations.append(dur)
        steps.frames.append(offset + t)
        t += dur
    return steps
