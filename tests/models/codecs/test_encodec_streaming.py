"""EnCodec encodes long clips chunk by chunk: the same codes as one shot, with memory bounded by the chunk."""

from __future__ import annotations

import helpers
import numpy as np
import pytest

import mlx_audio_lab
from mlx_audio_lab.fixtures import build
from mlx_audio_lab.models.codecs.encodec import model as encodec_model
from mlx_audio_lab.models.codecs.encodec.streaming import stream_encode


@pytest.fixture(scope="module")
def model():
    return mlx_audio_lab.load(build("encodec"))


def clip(samples: int, seed: int = 0) -> np.ndarray:
    t = np.arange(samples) / 24_000
    noise = 0.05 * np.random.default_rng(seed).standard_normal(samples)
    return (0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t) + noise).astype(np.float32)


@pytest.mark.parametrize("samples", [72_000, 72_157, 50_243])  # whole hops, and ends mid-hop
@pytest.mark.parametrize("chunk_frames", [7, 75])
def test_streamed_codes_equal_one_shot(model, samples, chunk_frames):
    x = clip(samples)
    one_shot = model.encode(x)
    assert len(np.unique(one_shot)) > 10  # codes that vary
    np.testing.assert_array_equal(stream_encode(model, x, chunk_frames=chunk_frames), one_shot)


def test_encode_streams_long_clips(model, monkeypatch):
    """`encode` itself takes the streaming path above STREAM_SECONDS (lowered here), with the same codes."""
    x = clip(72_157, seed=1)
    want = model.encode(x)
    monkeypatch.setattr(encodec_model, "STREAM_SECONDS", 1)
    calls = []
    monkeypatch.setattr("mlx_audio_lab.models.codecs.encodec.streaming.layers_step",
                        lambda *a, **k: calls.append(1) or __import__("mlx_audio_lab.layers.streaming", fromlist=["x"])
                        .layers_step(*a, **k))
    np.testing.assert_array_equal(model.encode(x), want)
    assert len(calls) == 2  # 3 s in 2 s chunks, streamed


def test_long_clip_memory_is_bounded(model):
    """Streaming 40 s needs no more MLX memory than streaming 10 s (one 2 s chunk's worth), while one shot of the
    same 40 s grows with the clip. Peaks differ between machines and runs (here 11 MB streamed vs 129 MB one shot;
    a CI run: 20 vs 72 MB), so the bounds are ratios with margin."""
    short, long = clip(24_000 * 10), clip(24_000 * 40, seed=2)
    streamed_short = helpers.peak_growth_mb(lambda: stream_encode(model, short))
    streamed_long = helpers.peak_growth_mb(lambda: stream_encode(model, long))
    one_shot_short = helpers.peak_growth_mb(lambda: model.encode(short))
    one_shot_long = helpers.peak_growth_mb(lambda: model.encode(long))  # under STREAM_SECONDS: the whole clip at once
    assert streamed_long < 1.2 * streamed_short + 8, (streamed_short, streamed_long)
    assert one_shot_long > 1.5 * one_shot_short, (one_shot_short, one_shot_long)
    assert streamed_long < 0.5 * one_shot_long, (streamed_long, one_shot_long)
    assert streamed_long < 64, streamed_long
