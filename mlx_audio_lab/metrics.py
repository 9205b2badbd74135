"""Small evaluation metrics shared by tests and notebooks, and how their magnitudes are printed."""

from __future__ import annotations

import math
import re


def normalize_words(text: str) -> list[str]:
    """Lower-case words without punctuation ("Dock." -> "dock"); digits and apostrophes kept."""
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by word-level edit distance."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / max(len(ref), 1)


def sig1(x: float) -> str:
    """A magnitude rounded to one significant figure ("3e-06"), stable across machines."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    return f"{x:.0e}"


def snr_db(clean, estimate) -> float:
    """Signal-to-noise ratio of `estimate` against `clean` in dB: 10 log10(|s|^2 / |s - estimate|^2)."""
    import numpy as np

    s, e = np.asarray(clean, np.float64), np.asarray(estimate, np.float64)
    return float(10 * np.log10(np.sum(s**2) / max(np.sum((s - e) ** 2), 1e-20)))
