"""Inverse-CDF sampling with explicit draws: the same draws pick the same tokens in MLX and through the torch twin."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
import torch

from mlx_audio_lab.generation import RecordedDraws, SamplingConfig, SeededDraws, pick_inverse_cdf, sample
from mlx_audio_lab.parity.generation import torch_draws


def test_inverse_cdf_pick_follows_vocabulary_order():
    probs = np.array([[0.1, 0.0, 0.2, 0.7], [0.0, 0.5, 0.5, 0.0]])
    for u, want in [(0.0, [0, 1]), (0.099, [0, 1]), (0.1, [2, 1]), (0.29, [2, 1]), (0.31, [3, 1]), (0.5, [3, 2]),
                    (0.999999, [3, 2])]:
        assert pick_inverse_cdf(probs, np.array([u, u])).tolist() == want
    # a zero-probability token is never picked, even at u = 1 - eps rounding up to the total
    assert pick_inverse_cdf(np.array([[0.5, 0.5, 0.0]]), np.array([1 - 1e-17])).tolist() == [1]


def test_draw_sources():
    a, b = SeededDraws(3), SeededDraws(3)
    x = np.concatenate([a.next(2), a.next(1)])
    np.testing.assert_array_equal(x, np.concatenate([b.next(1), b.next(2)]))
    assert ((0 <= x) & (x < 1)).all() and len(a.history) == 2
    rec = RecordedDraws(np.concatenate(a.history))
    np.testing.assert_array_equal(np.concatenate([rec.next(1), rec.next(2)]), x)
    with pytest.raises(IndexError, match="exhausted"):
        rec.next(1)


def test_empirical_distribution_matches_probabilities():
    logits = mx.array(np.log(np.array([[0.1, 0.2, 0.3, 0.4]], np.float32)))
    draws = SeededDraws(0)
    picks = np.concatenate([sample(logits, SamplingConfig(1.0), draws) for _ in range(4000)])
    freq = np.bincount(picks, minlength=4) / picks.size
    assert np.abs(freq - [0.1, 0.2, 0.3, 0.4]).max() < 0.03


def test_greedy_is_argmax_after_repetition_penalty():
    x = np.array([[1.0, 3.0, 2.9, -1.0]], np.float32)
    assert sample(mx.array(x), SamplingConfig(0.0)).tolist() == [1]
    # penalty 1.1 on token 1 gives 3.0 / 1.1 < 2.9: greedy follows the processed logits, as transformers does
    assert sample(mx.array(x), SamplingConfig(0.0, repetition_penalty=1.1), previous_tokens=[[1]]).tolist() == [2]
    with pytest.raises(ValueError, match="draws"):
        sample(mx.array(x), SamplingConfig(0.8))


@pytest.mark.parametrize("config", [SamplingConfig(1.0), SamplingConfig(0.6, top_k=20, top_p=0.8),
                                    SamplingConfig(1.3, top_p=0.9, min_p=0.02, repetition_penalty=1.3)])
def test_torch_twin_picks_like_mlx_through_transformers_processors(config):
    from transformers.generation import logits_process as T

    from mlx_audio_lab.parity.generation import hf_generate_kwargs  # noqa: F401  (the twin's own module)

    rng = np.random.default_rng(1)
    prev = rng.integers(0, 500, size=(4, 9))
    chain = T.LogitsProcessorList(
        ([T.RepetitionPenaltyLogitsProcessor(config.repetition_penalty)] if config.repetition_penalty != 1 else [])
        + ([T.TemperatureLogitsWarper(config.temperature)] if config.temperature != 1 else [])
        + ([T.TopKLogitsWarper(config.top_k)] if config.top_k else [])
        + ([T.TopPLogitsWarper(config.top_p)] if config.top_p < 1 else [])
        + ([T.MinPLogitsWarper(config.min_p)] if config.min_p else []))
    mlx_draws, torch_side = SeededDraws(7), SeededDraws(7)
    for _ in range(50):
        x = rng.normal(0, 3, size=(4, 500)).astype(np.float32)
        got = sample(mx.array(x), config, mlx_draws, previous_tokens=prev)
        scores = chain(torch.tensor(prev), torch.tensor(x))
        with torch_draws(torch_side):
            want = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1).numpy()
        np.testing.assert_array_equal(got, want)
    assert torch.multinomial is not None and "twin" not in repr(torch.multinomial)
