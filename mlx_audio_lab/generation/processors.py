"""Logits processors as pure functions on logits (B, V), each equal to its `transformers` counterpart.

`temperature` = TemperatureLogitsWarper, `top_k` = TopKLogitsWarper, `top_p` = TopPLogitsWarper,
`min_p` = MinPLogitsWarper, `repetition_penalty` = RepetitionPenaltyLogitsProcessor, `cfg` = the
classifier-free-guidance formula (ClassifierFreeGuidanceLogitsProcessor). Removed tokens get
`filter_value` (-inf by default), as upstream. Ties: top-k keeps every token tied with the k-th; top-p
and min-p's min_tokens_to_keep order tied logits by vocabulary index (PyTorch's CPU sort and topk leave
that order unspecified, so ties that straddle the cut are the one place the two may differ).
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

NEG_INF = float("-inf")


def temperature(logits: mx.array, t: float) -> mx.array:
    """logits / t (t > 0; greedy decoding is the sampler's job, not this one's)."""
    if not t > 0:
        raise ValueError(f"temperature must be > 0 to scale logits, got {t} (temperature 0 means greedy: use argmax)")
    return logits / t


def top_k(logits: mx.array, k: int, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1) -> mx.array:
    """Keep the tokens whose logit is >= the k-th largest (ties with the k-th are all kept)."""
    k = min(max(int(k), min_tokens_to_keep), logits.shape[-1])
    kth = mx.min(mx.topk(logits, k, axis=-1), axis=-1, keepdims=True)  # (B, 1): the k-th largest value
    return mx.where(logits < kth, mx.array(filter_value, logits.dtype), logits)


def top_p(logits: mx.array, p: float, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1) -> mx.array:
    """Nucleus: drop the smallest tokens whose cumulative probability (ascending) is <= 1 - p."""
    if not 0 <= p <= 1:
        raise ValueError(f"top_p must be in [0, 1], got {p}")
    order = mx.argsort(logits, axis=-1)  # ascending, stable (ties by vocabulary index)
    ascending = mx.take_along_axis(logits, order, axis=-1)
    cumulative = mx.cumsum(mx.softmax(ascending.astype(mx.float32), axis=-1), axis=-1)
    remove_sorted = cumulative <= (1 - p)
    V = logits.shape[-1]
    keep_last = mx.arange(V) >= V - min_tokens_to_keep  # the largest min_tokens_to_keep stay
    remove_sorted = mx.logical_and(remove_sorted, mx.logical_not(keep_last))
    remove = mx.put_along_axis(mx.zeros(logits.shape, mx.bool_), order, remove_sorted, axis=-1)
    return mx.where(remove, mx.array(filter_value, logits.dtype), logits)


def min_p(logits: mx.array, p: float, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1) -> mx.array:
    """Drop tokens whose probability is below p times the top token's probability."""
    if not 0 <= p <= 1:
        raise ValueError(f"min_p must be in [0, 1], got {p}")
    probs = mx.softmax(logits.astype(mx.float32), axis=-1)
    remove = probs < p * mx.max(probs, axis=-1, keepdims=True)
    k = min(min_tokens_to_keep, logits.shape[-1])
    if k > 1 or p > 1:  # the top token is never below p * itself, so only k > 1 changes anything
        top = mx.argsort(-probs, axis=-1)[..., :k]
        remove = mx.put_along_axis(remove, top, mx.zeros(top.shape, mx.bool_), axis=-1)
    return mx.where(remove, mx.array(filter_value, logits.dtype), logits)


def repetition_penalty(logits: mx.array, previous_tokens: mx.array | np.ndarray, penalty: float) -> mx.array:
    """Tokens seen in `previous_tokens` (B, T): negative logits times penalty, positive ones divided by it."""
    prev = mx.array(np.asarray(previous_tokens, dtype=np.int32)) if not isinstance(previous_tokens, mx.array) \
        else previous_tokens.astype(mx.int32)
    if prev.ndim == 1:
        prev = prev[:, None]
    if prev.shape[-1] == 0 or penalty == 1.0:
        return logits
    V = logits.shape[-1]
    prev = mx.minimum(prev, V)  # ids past the head (embedding-only tokens) land on a dropped pad column
    padded = mx.concatenate([logits, mx.zeros((logits.shape[0], 1), logits.dtype)], axis=-1)
    score = mx.take_along_axis(padded, prev, axis=-1)
    score = mx.where(score < 0, score * penalty, score / penalty)
    return mx.put_along_axis(padded, prev, score, axis=-1)[..., :V]


def cfg(cond_logits: mx.array, uncond_logits: mx.array, scale: float) -> mx.array:
    """Classifier-free guidance: uncond + scale * (cond - uncond)."""
    return uncond_logits + (cond_logits - uncond_logits) * scale
