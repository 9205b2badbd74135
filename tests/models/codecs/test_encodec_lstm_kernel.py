"""EnCodec at its real LSTM width (num_filters 32: 512 units, as encodec_24khz) through the C LSTM kernel: every
layer within the fixture tolerance, codes equal to transformers' (but near-ties), the same tapped layers as the
plain path, and the kernel actually used."""

from __future__ import annotations

import helpers
import numpy as np
import pytest

import mlx_audio_lab
from mlx_audio_lab import parity
from mlx_audio_lab.layers import fast_math as fm
from mlx_audio_lab.layers.cpu import lstm_native, recurrence
from mlx_audio_lab.models.codecs.encodec.reference import SIZES, seeded_model

pytestmark = [pytest.mark.usefixtures("fast_math_on"),
              pytest.mark.skipif(lstm_native.library() is None, reason="no C compiler: the numpy loop runs")]


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A seeded EncodecModel as the tiny fixture but with encodec_24khz's LSTM width, in the HF layout; its LSTM
    weights scaled so the recurrence contracts (at std 0.1 over 512 units it is chaotic: every path, the plain
    one included, drifts from torch past the fixture tolerance as rounding grows step by step)."""
    from transformers import EncodecFeatureExtractor

    folder = tmp_path_factory.mktemp("encodec-wide-lstm")
    reference = seeded_model(lstm_scale=0.3, **dict(SIZES["tiny"], num_filters=32))  # 0.3: not chaotic (below)
    reference.save_pretrained(folder, safe_serialization=True)
    EncodecFeatureExtractor(feature_size=1, sampling_rate=24_000).save_pretrained(folder)
    return folder, reference


def test_parity_every_layer_through_the_kernel(wide, monkeypatch):
    folder, _ = wide
    used = []
    original = recurrence._native_layer
    monkeypatch.setattr(recurrence, "_native_layer", lambda *a: used.append(a[-1]) or original(*a))
    names = helpers.assert_parity_every_layer(parity.run("encodec", weights=folder))
    assert len(used) == 4  # two layers in the encoder's LSTM, two in the decoder's
    assert used[0] == recurrence.native_threads(np.zeros((2048, 512), np.float32))
    with fm.plain_math():
        plain = parity.run("encodec", weights=folder)
    assert [r.name for r in plain.layers] == names and "encoder.layers.13" in names


def test_codes_equal_transformers(wide):
    import torch

    folder, reference = wide
    model = mlx_audio_lab.load(folder)
    t = np.arange(24_000) / 24_000
    clip = (0.3 * np.sin(2 * np.pi * 180 * t * (1 + t)) + 0.05 * np.random.default_rng(0).standard_normal(t.size))
    clip = clip.astype(np.float32)
    got = model.encode(clip, bandwidth=1.8)
    with torch.no_grad():
        want = reference.encode(torch.from_numpy(clip)[None, None], bandwidth=1.8).audio_codes[0, 0].numpy()

    def gaps():
        with torch.no_grad():
            residual = reference.encoder(torch.from_numpy(clip)[None, None])[0].T.double()
        return helpers.l2_tie_gaps(residual, [q.codebook.embed for q in reference.quantizer.layers], want, got)

    helpers.assert_codes_equal_but_ties(got, want, gaps, 1e-5)
