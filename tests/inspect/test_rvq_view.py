"""Residual VQ fitted on a clip's own latents: each stage quantizes what the ones before left, so error falls."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.inspect.rvq import fit_residual_vq, kmeans, nearest, rvq_figure


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.concatenate([c + 0.1 * rng.standard_normal((50, 2)) for c in centres])
    got = kmeans(x, 3, seed=1)
    found = got[np.argsort(got[:, 0] + 2 * got[:, 1])]
    np.testing.assert_allclose(found, centres, atol=0.05)
    assert (nearest(centres, got) != nearest(centres, got)[0]).sum() == 2  # three different entries


def test_each_added_codebook_lowers_the_error_and_the_numbers_recompute():
    rng = np.random.default_rng(0)
    lat = rng.standard_normal((150, 16)) @ rng.standard_normal((16, 16))
    fit = fit_residual_vq(lat, 6, 16, frame_rate=50.0)
    assert (np.diff(fit.snr_db) > 0).all()
    recon = sum(book[idx] for book, idx in zip(fit.codebooks[:3], fit.codes[:3]))
    snr3 = 10 * np.log10((lat**2).sum() / ((lat - recon) ** 2).sum())
    assert fit.snr_db[2] == pytest.approx(snr3)
    np.testing.assert_allclose(fit.kbps, np.arange(1, 7) * 50 * 4 / 1000)
    ax = rvq_figure(fit).axes[0]
    assert ax.get_xlabel() == "bitrate (kbps)" and [t.get_text() for t in ax.texts] == list("123456")
