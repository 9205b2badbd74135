"""`dsp.istft`'s shifted-block overlap-add (the CPU fast path) against its scatter-add path and torch.istft."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab import dsp
from mlx_audio_lab.layers import fast_math as fm

torch = pytest.importorskip("torch")


pytestmark = pytest.mark.usefixtures("fast_math_on")  # every test starts with the fast paths on


@pytest.mark.parametrize(("frames", "n_fft", "hop", "center"),
                         [(3000, 20, 5, True), (200, 1024, 256, True), (300, 16, 4, False), (40, 12, 5, True)])
def test_istft_shifted_sum_matches_scatter_and_torch(frames, n_fft, hop, center):
    rng = np.random.default_rng(frames)
    z = (rng.standard_normal((2, frames, n_fft // 2 + 1))
         + 1j * rng.standard_normal((2, frames, n_fft // 2 + 1))).astype(np.complex64)
    assert dsp._shifted_overlap_add(n_fft, hop) == (n_fft % hop == 0)
    fast = np.array(dsp.istft(mx.array(z), n_fft, hop, n_fft, window="hann", center=center))
    with fm.plain_math():
        assert not dsp._shifted_overlap_add(n_fft, hop)
        plain = np.array(dsp.istft(mx.array(z), n_fft, hop, n_fft, window="hann", center=center))
    assert fast.shape == plain.shape and plain.std() > 0.01  # irfft scales by 1 / n_fft
    assert np.abs(fast - plain).max() < 1e-6
    if center:  # torch refuses center=False with a Hann window (its envelope is zero at the ends)
        want = torch.istft(torch.from_numpy(z).transpose(1, 2), n_fft, hop, n_fft, window=torch.hann_window(n_fft),
                           center=True).numpy()
        assert np.abs(fast - want).max() < 1e-6
