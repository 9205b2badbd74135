"""Parity for generation: teacher-forced logits per step, greedy tokens, sampled tokens for the same draws.

The PyTorch side runs `transformers`' own `generate`; `torch_draws` replaces `torch.multinomial` during it
with the inverse-CDF pick of `generation.sampling.pick_inverse_cdf` fed by the same `Draws`, so the two
frameworks pick the same token whenever their processed probabilities agree. Results are ParityReport rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..generation.sampling import Draws, SamplingConfig, pick_inverse_cdf
from .report import LayerResult, compare_arrays


@contextlib.contextmanager
def torch_draws(draws: Draws) -> Iterator[None]:
    """Within the block, `torch.multinomial(probs, 1)` picks by inverse CDF with `draws` (one per row)."""
    import torch

    original = torch.multinomial

    def multinomial(probs, num_samples=1, replacement=False, *, generator=None, out=None):
        if num_samples != 1:
            raise NotImplementedError("the draws twin picks one sample per row")
        p = probs.detach().to(torch.float64).cpu().numpy().reshape(-1, probs.shape[-1])
        picks = pick_inverse_cdf(p, draws.next(p.shape[0]))
        return torch.from_numpy(picks).to(probs.device).reshape(*probs.shape[:-1], 1)

    torch.multinomial = multinomial
    try:
        yield
    finally:
        torch.multinomial = original


def hf_generate_kwargs(config: SamplingConfig) -> dict[str, Any]:
    """`generate` arguments that turn on exactly the processors `config` turns on (none of HF's defaults)."""
    kw: dict[str, Any] = {"do_sample": not config.greedy, "top_k": None, "top_p": None, "min_p": None,
                          "temperature": None, "repetition_penalty": None}
    if config.repetition_penalty != 1.0:
        kw["repetition_penalty"] = config.repetition_penalty
    if not config.greedy:
        kw.update(temperature=config.temperature, top_k=config.top_k or 0, top_p=config.top_p)
        if config.min_p > 0:
            kw["min_p"] = config.min_p
    return kw


def reference_generate(model: Any, prompt: np.ndarray, config: SamplingConfig, draws: Draws | None,
                       max_new_tokens: int, stop_tokens: tuple[int, ...] = ()) -> np.ndarray:
    """transformers' `generate` on prompt (B, T) -> new tokens (B, steps), sampling with `draws` if not greedy."""
    import torch

    ids = torch.from_numpy(np.atleast_2d(np.asarray(prompt, dtype=np.int64)))
    kw = hf_generate_kwargs(config)
    stop = list(stop_tokens) or None
    with torch.no_grad(), (torch_draws(draws) if draws is not None else contextlib.nullcontext()):
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             min_new_tokens=0, eos_token_id=stop, pad_token_id=(stop or [0])[0], **kw)
    return out[:, ids.shape[1]:].numpy()


def reference_logits(model: Any, tokens: np.ndarray, n_prompt: int) -> np.ndarray:
    """One teacher-forced forward: logits (B, steps, V) predicting tokens[n_prompt:]."""
    import torch

    with torch.no_grad():
        ids = torch.from_numpy(np.atleast_2d(np.asarray(tokens, dtype=np.int64)))
        logits = model(ids).logits[:, n_prompt - 1:-1]
    return logits.float().numpy()


def first_divergence(got: np.ndarray, want: np.ndarray) -> int | None:
    """First step (column) where two token arrays (B, steps) differ, counting a length mismatch; None if equal."""
    got, want = np.atleast_2d(got), np.atleast_2d(want)
    n = min(got.shape[1], want.shape[1])
    differ = np.flatnonzero((got[:, :n] != want[:, :n]).any(axis=0))
    if differ.size:
        return int(differ[0])
    return None if got.shape[1] == want.shape[1] else n


def token_row(name: str, got: np.ndarray, want: np.ndarray) -> LayerResult:
    """A report row for token sequences: max_abs is the number of differing positions, tolerance 0."""
    got, want = np.atleast_2d(got), np.atleast_2d(want)
    n = min(got.shape[1], want.shape[1])
    wrong = int((got[:, :n] != want[:, :n]).sum()) + abs(got.shape[1] - want.shape[1]) * got.shape[0]
    step = first_divergence(got, want)
    note = "identical" if step is None else f"first diverging step {step}"
    return LayerResult(name, list(got.shape), wrong, wrong / max(want.size, 1), 0.0, wrong == 0, list(want.shape),
                       note=note)


def logits_row(name: str, got: np.ndarray, want: np.ndarray, tol: float, rtol: float = 1e-5) -> LayerResult:
    """Teacher-forced logits compared; the note names the first step outside tolerance."""
    row = compare_arrays(name, got, want, tol, rtol)
    if not row.ok and got.shape == want.shape:
        per_step = np.abs(np.asarray(got, np.float64) - want).reshape(got.shape[0], got.shape[1], -1).max(axis=(0, 2))
        row.note = (row.note + "; " if row.note else "") + f"first step over: {int(np.argmax(per_step > row.tol))}"
    return row


def precision_agreement(load_model: Any, folder: Any, greedy: Any, fp32: np.ndarray) -> dict[str, dict]:
    """Greedy-token agreement of bf16, 8-bit and 4-bit loads with fp32: fraction equal, first diverging step.

    `load_model(folder, **kw)` builds the port; `greedy(model) -> tokens (B, steps)` runs its greedy decode.
    """
    import mlx.core as mx

    fp32, out = np.atleast_2d(np.asarray(fp32)), {}
    for name, kw in (("bf16", {"dtype": mx.bfloat16}), ("8bit", {"quantize": 8}), ("4bit", {"quantize": 4})):
        got = np.atleast_2d(np.asarray(greedy(load_model(folder, **kw))))
        n = min(got.shape[1], fp32.shape[1])
        out[f"greedy_agreement_{name}"] = {"equal_fraction": float((got[:, :n] == fp32[:, :n]).mean()),
                                           "first_divergence": first_divergence(got, fp32)}
    return out


def teacher_forced_run(model: Any, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A generation port on the parity inputs' teacher sequence: (its taps, its logits through the KV cache)."""
    import mlx.core as mx

    from ..generation import teacher_forced_logits
    from ..taps import capture

    with capture() as acts:
        model(mx.array(inputs["teacher"].astype(np.int32)))
    taps = {k: np.array(v.astype(mx.float32)) for k, v in acts.items()}
    return taps, teacher_forced_logits(model.forward(), inputs["teacher"], inputs["prompt"].shape[1])
