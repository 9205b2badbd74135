"""Greedy CTC decoding: best label per frame, repeats collapsed, blanks dropped, frames kept for timing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CTCToken:
    """One emitted label and the frames [start, end) its run of repeats covers."""

    id: int
    start: int
    end: int


def greedy_path(emissions: Any) -> np.ndarray:
    """The best label of every frame: (T, vocab) logits or log-probs (MLX or numpy) -> (T,) int ids."""
    return np.asarray(emissions).argmax(axis=-1).astype(np.int64)


def collapse(path: Any, blank: int = 0) -> list[CTCToken]:
    """Merge runs of the same label, then drop the blank label; each token keeps its frame span."""
    path = np.asarray(path).reshape(-1)
    if path.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, path[1:] != path[:-1]])
    ends = np.r_[starts[1:], path.size]
    return [CTCToken(int(path[s]), int(s), int(e)) for s, e in zip(starts, ends) if path[s] != blank]


def frames_to_seconds(frame: int | float, frame_shift: float) -> float:
    """Time in seconds of a frame index, `frame_shift` seconds per frame."""
    return round(float(frame) * frame_shift, 6)
