"""Each logits processor equals its transformers counterpart on the same logits (max-abs 1e-6, -inf where removed)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
import torch
from transformers.generation import logits_process as T

from mlx_audio_lab.generation import processors as P


def _logits(seed: int, B: int = 3, V: int = 257, ties: bool = False) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0, 2, size=(B, V)).astype(np.float32)
    if ties:  # quantize so many tokens share a value, including the top ones
        x = np.round(x * 2) / 2
    return x


def _same(got: mx.array, want: torch.Tensor) -> None:
    got, want = np.array(got), want.numpy()
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))  # the same tokens removed
    finite = np.isfinite(want)
    assert np.abs(got[finite] - want[finite]).max(initial=0.0) <= 1e-6
    assert np.isfinite(want).sum(axis=-1).min() >= 1


def _ids(B: int = 3) -> torch.Tensor:
    return torch.zeros((B, 1), dtype=torch.long)


@pytest.mark.parametrize("t", [0.3, 0.7, 1.0, 1.7])
def test_temperature(t):
    x = _logits(1)
    _same(P.temperature(mx.array(x), t), T.TemperatureLogitsWarper(t)(_ids(), torch.tensor(x)))


def test_temperature_zero_is_refused():
    with pytest.raises(ValueError, match="greedy"):
        P.temperature(mx.zeros((1, 4)), 0.0)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("k,keep", [(1, 1), (5, 1), (40, 1), (3, 7), (1000, 1)])
def test_top_k(k, keep, ties):
    x = _logits(2, ties=ties)
    got = P.top_k(mx.array(x), k, min_tokens_to_keep=keep)
    _same(got, T.TopKLogitsWarper(k, min_tokens_to_keep=keep)(_ids(), torch.tensor(x)))
    if ties:  # every token tied with the k-th stays, so more than k may survive
        assert (np.isfinite(np.array(got)).sum(-1) >= min(max(k, keep), x.shape[-1])).all()


@pytest.mark.parametrize("p,keep", [(0.1, 1), (0.5, 1), (0.8, 1), (0.95, 1), (1.0, 1), (0.0, 1), (0.3, 20)])
def test_top_p(p, keep):
    x = _logits(3)
    _same(P.top_p(mx.array(x), p, min_tokens_to_keep=keep),
          T.TopPLogitsWarper(p, min_tokens_to_keep=keep)(_ids(), torch.tensor(x)))


def test_top_p_with_tied_logits_off_the_cutoff():
    # groups of tied tokens; p chosen so the cut falls between groups, where torch's sort order cannot matter
    x = np.repeat(np.array([[3.0, 2.0, 1.0, 0.0, -1.0]], np.float32), 4, axis=1)  # each value 4 times
    probs = np.exp(x[0, ::4]) / np.exp(x[0, ::4]).sum() * 4 / 4
    cut = probs[0] + probs[1] - 1e-3  # keep the 3.0 and 2.0 groups: 8 tokens
    got = P.top_p(mx.array(x), float(cut))
    _same(got, T.TopPLogitsWarper(float(cut))(_ids(1), torch.tensor(x)))
    assert np.isfinite(np.array(got)).sum() == 8


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("p,keep", [(0.05, 1), (0.2, 1), (0.5, 1), (0.9, 1), (0.9, 5)])
def test_min_p(p, keep, ties):
    if ties and keep > 1:
        pytest.skip("which of several tied tokens torch.topk keeps is unspecified")
    x = _logits(4, ties=ties)
    _same(P.min_p(mx.array(x), p, min_tokens_to_keep=keep),
          T.MinPLogitsWarper(p, min_tokens_to_keep=keep)(_ids(), torch.tensor(x)))


@pytest.mark.parametrize("penalty", [1.0, 1.1, 1.3, 0.8])
def test_repetition_penalty(penalty):
    x = _logits(5)
    prev = np.random.default_rng(6).integers(0, x.shape[-1], size=(3, 30))
    prev[:, :5] = prev[:, 5:10]  # repeated ids are penalized once
    prev[0, 0] = x.shape[-1] + 4  # an id past the head (embedding-only) is ignored
    want = T.RepetitionPenaltyLogitsProcessor(penalty)(torch.tensor(prev), torch.tensor(x))
    _same(P.repetition_penalty(mx.array(x), prev, penalty), want)
    _same(P.repetition_penalty(mx.array(x), mx.array(prev), penalty), want)


@pytest.mark.parametrize("scale", [1.5, 3.0, 7.5])
def test_cfg(scale):
    cond, uncond = _logits(7), _logits(8)
    want = T.ClassifierFreeGuidanceLogitsProcessor(scale)(_ids(), torch.tensor(np.concatenate([cond, uncond])))
    _same(P.cfg(mx.array(cond), mx.array(uncond), scale), want)


def test_chain_matches_transformers_order():
    from mlx_audio_lab.generation import SamplingConfig, process

    x = _logits(9)
    prev = np.random.default_rng(10).integers(0, x.shape[-1], size=(3, 12))
    cfg = SamplingConfig(temperature=0.7, top_k=50, top_p=0.9, min_p=0.05, repetition_penalty=1.2)
    chain = T.LogitsProcessorList([T.RepetitionPenaltyLogitsProcessor(1.2), T.TemperatureLogitsWarper(0.7),
                                   T.TopKLogitsWarper(50), T.TopPLogitsWarper(0.9), T.MinPLogitsWarper(0.05)])
    trace: list = []
    _same(process(mx.array(x), cfg, prev, trace=trace), chain(torch.tensor(prev), torch.tensor(x)))
    assert [name for name, _ in trace] == ["raw", "repetition_penalty", "temperature", "top_k", "top_p", "min_p"]
