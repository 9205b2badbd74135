"""Weight norm in one place: gain, fold, split (plain and bit-exact), and the state-dict helpers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mlx_audio_lab.convert.keymap import CheckpointError, KeyMap, Rule, apply_keymap, fold_weight_norm
from mlx_audio_lab.convert.weight_norm import (
    fold,
    fold_state,
    lone_halves,
    split,
    split_state,
    weight_norm_gain,
)
from mlx_audio_lab.models.codecs.community import add_gains, fold_gains

ULP = 2.0**-23  # float32's relative spacing at 1


def folded_weight(shape: tuple[int, ...], axis: int, seed: int = 0, zero_channel: bool = True) -> np.ndarray:
    """A float32 weight as a weight-norm checkpoint yields it (a fold of random g, v), channel 1 all zeros."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(shape).astype(np.float32)
    g_shape = tuple(n if i == axis else 1 for i, n in enumerate(shape))
    w = fold((rng.random(g_shape) * 3 + 0.1).astype(np.float32), v, axis)
    if zero_channel:
        np.moveaxis(w, axis, 0)[1] = 0
    return w


def reference_fold(g: np.ndarray, v: np.ndarray, axis: int) -> np.ndarray:
    """g * v / ||v|| written out with an explicit per-channel loop (float64)."""
    vm = np.moveaxis(v.astype(np.float64), axis, 0)
    norms = np.sqrt((vm.reshape(len(vm), -1) ** 2).sum(axis=1))
    out = np.moveaxis(g.astype(np.float64), axis, 0).reshape(-1, *[1] * (v.ndim - 1)) * vm
    return np.moveaxis(out / norms.reshape(-1, *[1] * (v.ndim - 1)), 0, axis)


@pytest.mark.parametrize("shape, axis", [((64, 1, 3), 0), ((3, 1, 64), 2)])
def test_exact_split_refolds_bit_for_bit(shape, axis):
    """Depthwise convs (Kokoro's `pool`, rows of 3) are where the plain split misses by an ulp."""
    w = folded_weight(shape, axis)
    assert np.std(w) > 0.1 and np.count_nonzero(w) > 0.9 * w.size * (1 - 1 / w.shape[axis])
    for given in (w, np.ascontiguousarray(w.transpose(2, 1, 0)).transpose(2, 1, 0)):  # C order and a view
        g, v = split(given, axis, exact=True)
        assert g.dtype == v.dtype == np.float32 and v.flags.c_contiguous
        np.testing.assert_array_equal(fold(g, v, axis), w)
        assert np.moveaxis(g, axis, 0)[1].item() == 0 and np.all(np.moveaxis(v, axis, 0)[1] == 1)  # zero channel
    plain = fold(*split(w, axis), axis)
    assert np.count_nonzero(plain != w) > 0  # without the nudging the refold is off somewhere...
    np.testing.assert_allclose(plain, w, rtol=ULP, atol=0)  # ...by at most an ulp


def test_exact_split_warns_where_no_exact_pair_exists():
    w = np.random.default_rng(3).standard_normal((64, 3)).astype(np.float32)  # not a fold: some rows cannot be
    with pytest.warns(RuntimeWarning, match=r"channels of a \(64, 3\) weight do not refold bit for bit"):
        g, v = split(w, 0, exact=True)
    np.testing.assert_allclose(fold(g, v, 0), w, rtol=2 * ULP, atol=0)


def test_gain_and_fold_match_the_definition():
    rng = np.random.default_rng(1)
    v = rng.standard_normal((5, 4, 3)).astype(np.float32)
    for axis in (0, 1, 2, -1):
        g = weight_norm_gain(v, axis)
        norms = np.linalg.norm(np.moveaxis(v.astype(np.float64), axis, 0).reshape(v.shape[axis], -1), axis=1)
        np.testing.assert_allclose(np.moveaxis(g, axis, 0).reshape(-1), norms, rtol=ULP)
        g2 = (g * rng.uniform(0.5, 2.0, g.shape)).astype(np.float32)
        np.testing.assert_allclose(fold(g2, v, axis), reference_fold(g2, v, axis), rtol=ULP, atol=1e-7)
    with pytest.raises(ValueError, match=r"axis 3 is out of range"):
        weight_norm_gain(v, 3)
    with pytest.raises(ValueError, match=r"gain of shape \(5, 1, 1\) is not a norm kept along axis 2"):
        fold(weight_norm_gain(v, 0), v, 2)
    with pytest.raises(ValueError, match=r"gain of shape \(5, 1\) does not fit direction of shape \(5, 4, 3\)"):
        fold(np.ones((5, 1), np.float32), v, 0)


def _pair_state(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    v = rng.standard_normal((6, 4, 5)).astype(np.float32)
    g0, g2 = weight_norm_gain(v, 0) * 1.5, weight_norm_gain(v, 2) * 0.5
    state = {"a.bias": v[:, 0, 0], "a.weight_g": g0, "a.weight_v": v,
             "b.parametrizations.weight.original0": g0, "b.parametrizations.weight.original1": v,
             "c.weight_g": g2, "c.weight_v": v}
    return state, v, g0, g2


def test_fold_state_both_spellings_and_axis_inference():
    state, v, g0, g2 = _pair_state(np.random.default_rng(2))
    inferred = fold_state(state)
    assert list(inferred) == ["a.bias", "a.weight", "b.weight", "c.weight"]
    np.testing.assert_array_equal(inferred["a.weight"], inferred["b.weight"])  # the two spellings fold alike
    np.testing.assert_allclose(inferred["a.weight"], 1.5 * v, rtol=2 * ULP, atol=1e-7)
    np.testing.assert_allclose(inferred["c.weight"], 0.5 * v, rtol=2 * ULP, atol=1e-7)
    np.testing.assert_array_equal(inferred["c.weight"], fold(g2, v, 2))  # inferred axis 2 == given axis 2
    given = fold_state({k: x for k, x in state.items() if not k.startswith("c.")}, axis=0)
    for k in ("a.weight", "b.weight"):
        np.testing.assert_array_equal(given[k], inferred[k])
    np.testing.assert_array_equal(fold_weight_norm(state | {"c.weight_g": g0})["c.weight"], inferred["a.weight"])
    np.testing.assert_array_equal(fold_gains(state)["c.weight"], inferred["c.weight"])
    with pytest.raises(ValueError, match=r"weight norm of c\.weight \(c\.weight_g, c\.weight_v\)"):
        fold_state(state, axis=0)  # c's gain keeps axis 2, not 0


def test_lone_halves_are_left_for_the_key_map_to_report():
    state, v, g0, _ = _pair_state(np.random.default_rng(4))
    state = {"a.weight_g": g0, "a.weight_v": v, "lone.weight_g": g0,
             "other.parametrizations.weight.original1": v}
    out = fold_state(state)
    assert lone_halves(state) == ["lone.weight_g", "other.parametrizations.weight.original1"]
    assert list(out) == ["lone.weight_g", "other.parametrizations.weight.original1", "a.weight"]
    assert out["lone.weight_g"] is g0 and out["other.parametrizations.weight.original1"] is v
    expected = {"a.weight": v.shape, "lone.weight": v.shape, "other.weight": v.shape}
    with pytest.raises(CheckpointError, match=r"lone\.weight_g") as err:
        apply_keymap(out, KeyMap([Rule(r"(.+)", r"\1")]), expected)
    assert err.value.missing == ["lone.weight", "other.weight"]


def test_split_state_selects_by_regex_or_predicate():
    w = folded_weight((8, 6, 3), 0, seed=5)
    state = {"x.weight": w, "x.bias": w[:, 0, 0], "y.weight": w[::-1].copy()}
    out = split_state(state, r"x\.weight", exact=True)
    assert list(out) == ["x.weight_g", "x.weight_v", "x.bias", "y.weight"]
    np.testing.assert_array_equal(fold_state(out)["x.weight"], w)
    both = split_state(state, lambda k: k.endswith(".weight"), axis=0, exact=True,
                       spelling=(".parametrizations.weight.original0", ".parametrizations.weight.original1"))
    back = fold_state(both, axis=0)
    for k in ("x.weight", "y.weight"):
        np.testing.assert_array_equal(back[k], state[k])
    assert not np.array_equal(back["x.weight"], back["y.weight"])
    with pytest.raises(ValueError, match="no key of the state was selected to split"):
        split_state(state, re.escape("z.weight"))
    with pytest.raises(ValueError, match=r"x\.bias was selected to split, but only `\.weight` keys split"):
        split_state(state, r"x\..+")


def test_add_gains_then_fold_gains_round_trip():
    """The codecs' community export: directions get gains (axis by key), and the loader folds them back."""
    w = folded_weight((6, 5, 4), 0, seed=6, zero_channel=False)
    wt = folded_weight((3, 5, 8), 2, seed=7, zero_channel=False)
    out = add_gains({"conv.weight_v": w, "up.weight_v": wt, "alpha": w[0]}, keep={r"up\.weight_v": 2})
    assert out["conv.weight_g"].shape == (6, 1, 1) and out["up.weight_g"].shape == (1, 1, 8)
    back = fold_gains(out)
    assert list(back) == ["alpha", "conv.weight", "up.weight"]
    for k, ref in (("conv.weight", w), ("up.weight", wt)):
        np.testing.assert_allclose(back[k], ref, rtol=ULP, atol=0)
