"""The KV-cached loop against transformers' generate on a tiny Llama: logits, greedy and sampled tokens."""

from __future__ import annotations

import numpy as np

from mlx_audio_lab.generation import SamplingConfig, SeededDraws, generate, lm_forward, stream, teacher_forced_logits
from mlx_audio_lab.parity.generation import (
    first_divergence,
    logits_row,
    reference_generate,
    reference_logits,
    token_row,
)


def test_teacher_forced_logits_through_the_cache(llama_pair, prompt):
    ref, mlx = llama_pair
    tokens = reference_generate(ref, prompt, SamplingConfig(0.0), None, 24)
    seq = np.concatenate([prompt, tokens], axis=1)
    got = teacher_forced_logits(lm_forward(mlx), seq, prompt.shape[1])
    want = reference_logits(ref, seq, prompt.shape[1])
    assert got.shape == want.shape == (1, 24, 300)
    row = logits_row("logits", got, want, 1e-4)
    assert row.ok, row


def test_greedy_tokens_identical_and_varied(llama_pair, prompt):
    ref, mlx = llama_pair
    want = reference_generate(ref, prompt, SamplingConfig(0.0), None, 40)
    got = generate(lm_forward(mlx), prompt, SamplingConfig(0.0), max_steps=40)
    assert token_row("greedy", got, want).ok and len(set(got[0].tolist())) > 5


def test_sampled_tokens_identical_for_the_same_draws(llama_pair, prompt):
    ref, mlx = llama_pair
    for config in (SamplingConfig(1.0), SamplingConfig(0.8, top_k=50, top_p=0.9, repetition_penalty=1.2),
                   SamplingConfig(1.0, min_p=0.05)):
        want = reference_generate(ref, prompt, config, SeededDraws(11), 40)
        got = generate(lm_forward(mlx), prompt, config, SeededDraws(11), max_steps=40)
        row = token_row("sampled", got, want)
        assert row.ok, (config, row)
        # different draws give a different run, so the check can fail
        other = generate(lm_forward(mlx), prompt, config, SeededDraws(12), max_steps=40)
        assert first_divergence(other, want) is not None


def test_stop_token_ends_the_stream_and_is_yielded(llama_pair, prompt):
    _, mlx = llama_pair
    free = generate(lm_forward(mlx), prompt, SamplingConfig(0.0), max_steps=20)[0]
    stop = int(free[5])
    first = int(np.flatnonzero(free == stop)[0])
    steps = list(stream(lm_forward(mlx), prompt, SamplingConfig(0.0), max_steps=20, stop_tokens=[stop]))
    assert [s.token for s in steps] == free[:first + 1].tolist()


def test_trace_has_logits_per_stage(llama_pair, prompt):
    _, mlx = llama_pair
    config = SamplingConfig(0.7, top_k=10, top_p=0.9)
    steps = list(stream(lm_forward(mlx), prompt, config, SeededDraws(0), max_steps=3, trace=True))
    names = [n for n, _ in steps[0].stages]
    assert names == ["raw", "temperature", "top_k", "top_p"]
    raw, last = steps[0].stages[0][1], steps[0].stages[-1][1]
    np.testing.assert_allclose(steps[0].stages[1][1], raw / 0.7, rtol=1e-6)
    assert np.isfinite(last).sum() <= 10 and np.isfinite(last[0, steps[0].token])


def test_llama_self_attention_matches_transformers(llama_pair, prompt):
    import mlx.core as mx
    import torch

    from mlx_audio_lab.generation.backbone import llama_self_attention

    ref, mlx = llama_pair
    ref.config._attn_implementation = "eager"
    with torch.no_grad():
        want = torch.stack(ref(torch.from_numpy(prompt), output_attentions=True).attentions)[:, 0].numpy()
    got = np.array(llama_self_attention(mlx, mx.array(prompt.astype(np.int32))))
    assert got.shape == want.shape == (2, 4, 7, 7)
    assert np.abs(got - want).max() < 1e-5
