"""Vocos' ISTFT head on the CPU fast path (NumPy's exp / cos / sin, shifted-block overlap-add) against the plain
MLX path and vocos' own head (torch)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.layers import fast_math as fm
from mlx_audio_lab.models.codecs.vocos.config import HeadConfig
from mlx_audio_lab.models.codecs.vocos.model import ISTFTHead
from mlx_audio_lab.models.codecs.vocos.torch_shim import import_vocos

torch = pytest.importorskip("torch")


pytestmark = pytest.mark.usefixtures("fast_math_on")  # every test starts with the fast paths on


@pytest.mark.parametrize("padding", ["same", "center"])
def test_istft_head_fast_matches_plain_and_torch(padding):
    cfg = HeadConfig(dim=64, n_fft=256, hop_length=64, padding=padding)
    rng = np.random.default_rng(0)
    head = ISTFTHead(cfg)
    w = rng.normal(0, 0.3, (cfg.n_fft + 2, cfg.dim)).astype(np.float32)
    b = rng.normal(0, 0.5, cfg.n_fft + 2).astype(np.float32)
    b[: cfg.n_fft // 2 + 1] += 3.0  # some magnitudes past the cap of 100
    head.out.weight, head.out.bias = mx.array(w), mx.array(b)
    x = rng.standard_normal((1, 600, cfg.dim)).astype(np.float32)
    assert fm.fast_math_active(600 * (cfg.n_fft + 2))
    fast = np.array(head(mx.array(x)))
    with fm.plain_math():
        plain = np.array(head(mx.array(x)))
    vocos, _ = import_vocos()
    ref = vocos.heads.ISTFTHead(cfg.dim, cfg.n_fft, cfg.hop_length, padding=cfg.padding).eval()
    with torch.no_grad():
        ref.out.weight.copy_(torch.from_numpy(w))
        ref.out.bias.copy_(torch.from_numpy(b))
        want = ref(torch.from_numpy(x)).numpy()
    log_mag = (x @ w.T + b)[..., : cfg.n_fft // 2 + 1]
    assert (log_mag > np.log(100.0)).any() and (log_mag < 0).any()  # the cap at 100 is exercised
    scale = np.abs(want).max()
    assert fast.shape == plain.shape == want.shape and scale > 1
    assert np.abs(fast - want).max() < 2e-6 * scale
    assert np.abs(plain - want).max() < 2e-6 * scale
