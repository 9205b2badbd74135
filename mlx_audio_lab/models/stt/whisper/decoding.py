"""Whisper decoding: transformers' logit rules, greedy and beam search, language detection.

Everything follows `WhisperForConditionalGeneration.generate` of transformers 5.x, so tokens match it:
greedy takes the argmax of the processed logits; beam search processes *log-softmax* scores (suppressed
mass is not renormalised), keeps the best 2 * beams candidates per step, and ranks finished hypotheses by
`sum_logprobs / generated_len ** length_penalty`, where `generated_len` counts the new tokens including
end-of-text. Beam bookkeeping runs in float32 NumPy on the same arrays as transformers (-1e9 sentinels too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

from .step import Stepper

if TYPE_CHECKING:
    from .model import Whisper


NEG = np.float32(-1e9)  # transformers' "cannot be chosen" offset in beam search
MAX_INITIAL_TIMESTAMP_INDEX = 50  # generation_config.max_initial_timestamp_index of openai/whisper-* (1.0 s)
N_TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|>, the last ids of every Whisper vocabulary


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float32 (rows with some finite entry)."""
    m = x.max(axis=-1, keepdims=True)
    z = x - m
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def logsumexp(x: np.ndarray) -> np.ndarray:
    """Row-wise log-sum-exp; -inf for rows that are all -inf."""
    m = x.max(axis=-1)
    safe = np.where(np.isfinite(m), m, 0).astype(x.dtype)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(x - safe[:, None]).sum(axis=-1)) + safe


def timestamp_rules(scores: np.ndarray, generated: Sequence[Sequence[int]], timestamp_begin: int, eot: int,
                    max_initial: int | None = MAX_INITIAL_TIMESTAMP_INDEX) -> np.ndarray:
    """transformers' `WhisperTimeStampLogitsProcessor`, in place on (B, V) scores; `generated`: tokens per row.

    Timestamps come in pairs (except right before end-of-text), never decrease, the first token is a
    timestamp <= `max_initial`, and a timestamp is forced when their total probability beats every text token.
    """
    tb, neg = timestamp_begin, -np.inf
    scores[:, tb - 1] = neg  # <|notimestamps|>
    for k, seq in enumerate(generated):
        last = len(seq) >= 1 and seq[-1] >= tb
        penultimate = len(seq) < 2 or seq[-2] >= tb
        if last:
            if penultimate:
                scores[k, tb:] = neg  # a pair just closed: text (or end) next
            else:
                scores[k, :eot] = neg  # an open timestamp: its pair or end-of-text next
        stamps = [t for t in seq if t >= tb]
        floor = tb
        if stamps:
            floor = stamps[-1] if last and not penultimate else stamps[-1] + 1
        scores[k, tb:floor] = neg
    if len(generated[0]) == 0:
        scores[:, :tb] = neg
        if max_initial is not None:
            scores[:, tb + max_initial + 1 :] = neg
    logp = log_softmax(scores)
    force = logsumexp(logp[:, tb:]) > logp[:, :tb].max(axis=-1)
    scores[force, :tb] = neg
    return scores


@dataclass
class LogitRules:
    """Whisper's logit processors in transformers' order: begin-suppress, suppress, timestamp rules."""

    eot: int
    suppress: list[int] = field(default_factory=list)
    begin_suppress: list[int] = field(default_factory=list)
    timestamp_begin: int | None = None  # None: no timestamp rules (the prompt ends in <|notimestamps|>)
    max_initial_timestamp: int | None = MAX_INITIAL_TIMESTAMP_INDEX

    @classmethod
    def for_model(cls, model: Whisper, timestamps: bool = False) -> LogitRules:
        """The rules of `model`'s config; timestamp rules when `timestamps`."""
        cfg = model.config
        keep = [t for t in cfg.suppress_tokens if t < cfg.vocab_size]
        begin = [t for t in cfg.begin_suppress_tokens if t < cfg.vocab_size]
        return cls(cfg.eos_token_id, keep, begin, timestamp_begin(model) if timestamps else None)

    def __call__(self, scores: np.ndarray, generated: Sequence[Sequence[int]]) -> np.ndarray:
        """Processed copy of (B, V) scores for rows that generated `generated` (equal lengths) so far."""
        scores = np.array(scores, dtype=np.float32)
        if len(generated[0]) == 0 and self.begin_suppress:
            scores[:, self.begin_suppress] = -np.inf
        if self.suppress:
            scores[:, self.suppress] = -np.inf
        if self.timestamp_begin is not None:
            timestamp_rules(scores, generated, self.timestamp_begin, self.eot, self.max_initial_timestamp)
        return scores


def timestamp_begin(model: Whisper) -> int:
    """Id of <|0.00|> (the tokenizer's, else the last 1501 ids of the vocabulary)."""
    tok = getattr(model, "tokenizer", None)
    return tok.timestamp_begin if tok is not None else model.config.vocab_size - N_TIMESTAMPS


def _last_logits(model: Whisper, tokens: mx.array, audio: mx.array, state) -> np.ndarray:
    return np.array(model.logits(tokens, audio, state, last_only=True)[:, -1].astype(mx.float32))


def _prefill(model: Whisper, prompt: list[int], audio: mx.array, rows: int) -> tuple[Stepper, np.ndarray]:
    """(stepper, last logits (rows, V)) after the prompt; `stepper([token per row])` gives the next logits."""
    stepper = Stepper(model, audio, prompt, rows)
    return stepper, stepper.logits


def greedy(model: Whisper, audio: mx.array, prompt: list[int], max_new_tokens: int = 224,
           timestamps: bool = False) -> list[int]:
    """Greedy decoding of one audio window after `prompt`; returns the new tokens up to end-of-text."""
    eot, limit = model.config.eos_token_id, model.config.max_target_positions
    rules = LogitRules.for_model(model, timestamps)
    step, logits = _prefill(model, prompt, audio, 1)
    out: list[int] = []
    for _ in range(max_new_tokens):
        token = int(rules(logits, [out])[0].argmax())
        out.append(token)
        if token == eot or len(prompt) + len(out) >= limit:
            break
        logits = step([token])
    return out


def _topk(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries, largest first (as torch.topk)."""
    idx = np.argpartition(-x, k - 1)[:k]
    return idx[np.argsort(-x[idx], kind="stable")]


def beam_search(model: Whisper, audio: mx.array, prompt: list[int], beam_size: int = 5,
                max_new_tokens: int | None = None, length_penalty: float = 1.0, timestamps: bool = False,
                return_score: bool = False, forced: Sequence[int] = ()) -> list[int] | tuple[list[int], float]:
    """Beam search over one audio window (1, n_ctx, d) after `prompt`, as transformers' `_beam_search`
    with Whisper's defaults (early_stopping=False); returns the best hypothesis' new tokens (and its
    length-normalised score, transformers' `sequences_scores`, with `return_score`). `forced` tokens (a
    prefix) open every hypothesis: the rules see them as generated, and they are returned with the rest."""
    n, k = beam_size, 2 * beam_size
    eot, vocab = model.config.eos_token_id, model.config.vocab_size
    max_length = model.config.max_target_positions
    if max_new_tokens is not None:
        max_length = min(max_length, len(prompt) + max_new_tokens)
    rules = LogitRules.for_model(model, timestamps)
    audio = mx.broadcast_to(audio, (n, *audio.shape[1:]))  # cross keys/values: equal rows, never reordered
    step, logits = _prefill(model, [*prompt, *forced], audio, n)
    prompt = [*prompt, *forced]  # lengths below count the forced tokens as part of the context

    running: list[list[int]] = [list(forced) for _ in range(n)]
    run_scores = np.full(n, NEG, np.float32)
    run_scores[0] = 0.0  # only the first (identical) beam may expand at the first step
    done: list[list[int]] = [[] for _ in range(n)]
    done_scores = np.full(n, NEG, np.float32)
    done_flags = np.zeros(n, bool)
    improvable = True
    top_n = np.arange(k) < n
    while True:
        cur = len(running[0]) - len(forced)
        logp = rules(log_softmax(logits), running)
        acc = (logp + run_scores[:, None]).reshape(-1)
        top = _topk(acc, k)
        cand_scores, src, tok = acc[top], top // vocab, top % vocab
        cand = [running[b] + [int(t)] for b, t in zip(src, tok)]
        hits = (tok == eot) | (len(prompt) + cur + 1 >= max_length)

        # running beams: the best n candidates that did not finish
        masked = cand_scores + hits.astype(np.float32) * NEG
        keep = _topk(masked, n)
        # finished hypotheses: length-normalised, only from the top n candidates, while improvement is possible
        fin = cand_scores / np.float32((cur + 1) ** length_penalty)
        fin = fin + np.float32(0.0 if improvable else NEG)
        just = hits & top_n
        fin = fin + (~just).astype(np.float32) * NEG
        merged = np.concatenate([done_scores, fin])
        order = _topk(merged, n)
        pool = done + cand
        done = [pool[i] for i in order]
        done_scores = merged[order]
        done_flags = np.concatenate([done_flags, just])[order]

        running = [cand[i] for i in keep]
        run_scores = masked[keep]
        best_possible = run_scores[0] / np.float32((cur + 1) ** length_penalty)
        worst_done = np.where(done_flags, done_scores.min(), NEG)
        improvable = improvable and bool(np.any(best_possible > worst_done))
        if not improvable or hits.all():
            break
        step.reorder(src[keep])
        logits = step([seq[-1] for seq in running])
    return (done[0], float(done_scores[0])) if return_score else done[0]


def detect_language(model: Whisper, audio: mx.array) -> tuple[str, dict[str, float]]:
    """Most likely language of one audio window (1, n_ctx, d): (code, probabilities of every language)."""
    tok = model.tokenizer
    if tok is None or not tok.language_ids:
        raise ValueError("language detection needs a multilingual Whisper (this vocabulary is English-only)")
    codes, ids = zip(*tok.language_ids.items())
    logits = _last_logits(model, mx.array([[tok.sot]]), audio, model.new_state())[0, list(ids)]
    probs = np.exp(log_softmax(logits[None])[0])
    return codes[int(logits.argmax())], {c: float(p) for c, p in zip(codes, probs)}


@dataclass
class Parting:
    """Where two decodings of one window part: the step, the candidates there, and each path's score."""

    step: int  # index of the first new token that differs
    candidates: list[tuple[int, float]]  # (token, log-probability) of the top k at that step
    scores: tuple[float, float]  # sum of log-probabilities of each whole decoding
    lengths: tuple[int, int]


def parting(model: Whisper, audio: mx.array, prompt: list[int], a: list[int], b: list[int], k: int = 5,
            timestamps: bool = False) -> Parting:
    """Compare decodings `a` and `b` (new tokens) of one window (1, n_ctx, d): teacher-forced log-probabilities
    after the logit rules, the top `k` candidates where they first differ, and each path's total."""
    rules = LogitRules.for_model(model, timestamps)
    step = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))

    def path_logp(seq: list[int]) -> np.ndarray:
        logits = np.array(model.logits(mx.array([prompt + seq[:-1]]), audio)[0].astype(mx.float32))
        rows = logits[len(prompt) - 1 :]
        return np.stack([rules(log_softmax(rows[i][None]), [seq[:i]])[0] for i in range(len(seq))])

    la, lb = path_logp(a), path_logp(b)
    at = la[step]
    top = _topk(at, k)
    sa = float(sum(la[i, t] for i, t in enumerate(a)))
    sb = float(sum(lb[i, t] for i, t in enumerate(b)))
    return Parting(step, [(int(t), float(at[t])) for t in top], (sa, sb), (len(a), len(b)))
