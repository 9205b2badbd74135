"""Long clips through the non-causal codecs (DAC, SNAC, Vocos' mels) in overlapping chunks: the one-shot codes
(features within float rounding for Vocos), with memory bounded by the chunk, not the clip. The thresholds
(`chunked.STREAM_SECONDS`, `CHUNK_SECONDS`) are lowered here so that seconds of audio stand for an hour."""

from __future__ import annotations

import helpers
import numpy as np
import pytest

import mlx_audio_lab
from mlx_audio_lab.fixtures import build
from mlx_audio_lab.layers import chunked

CODECS = {"dac": ("dac", "tiny"), "snac": ("snac", "tiny"), "vocos": ("vocos", "tiny")}


@pytest.fixture(scope="module")
def models() -> dict:
    return {name: mlx_audio_lab.load(build(*spec)) for name, spec in CODECS.items()}


def clip(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """A 220 Hz tone under a 3 Hz tremolo, with noise: codes that vary from frame to frame."""
    t = np.arange(int(seconds * rate)) / rate
    noise = 0.05 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t) + noise).astype(np.float32)


def as_list(codes) -> list[np.ndarray]:
    return list(codes) if isinstance(codes, list) else [codes]


@pytest.fixture
def short_streams(monkeypatch):
    """Clips above 1 s are chunked, 2 s a chunk."""
    monkeypatch.setattr(chunked, "STREAM_SECONDS", 1)
    monkeypatch.setattr(chunked, "CHUNK_SECONDS", 2)


@pytest.mark.parametrize("name, seconds", [("dac", 9.0), ("dac", 9.013), ("snac", 7.0), ("snac", 7.2)])
def test_chunked_codes_equal_one_shot(models, name, seconds, monkeypatch):
    """Context = the encoder's receptive field: every code equals the one-shot code (measured 100 %, so none
    flipped by float rounding), for clips ending on and off a frame / `pad_multiple`."""
    model = models[name]
    x = clip(seconds, model.sample_rate)
    one_shot = as_list(model.encode(x))
    assert all(len(np.unique(c)) > 10 for c in one_shot)
    monkeypatch.setattr(chunked, "STREAM_SECONDS", 1)
    monkeypatch.setattr(chunked, "CHUNK_SECONDS", 2)
    calls = []
    real = chunked.overlapped_encode
    monkeypatch.setattr(chunked, "overlapped_encode", lambda *a, **k: calls.append(a[4]) or real(*a, **k))
    streamed = as_list(model.encode(x))
    assert calls, "the long clip did not take the chunked path"
    for got, want in zip(streamed, one_shot, strict=True):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["dac", "snac"])
def test_without_context_codes_differ_only_near_seams(models, name):
    """Why the context is there: with none, codes near a seam change (the encoder sees zero padding instead of
    the neighbour's audio); frames farther than the receptive field from every seam still agree exactly."""
    model = models[name]
    x = clip(6.0, model.sample_rate, seed=3)
    cfg = model.config
    if name == "dac":
        unit, per_unit, margin = cfg.hop_length, [1], model.context_frames
        encode_once = lambda a: [model._encode_once(a)]  # noqa: E731
    else:
        unit, margin = cfg.pad_multiple, model.context_units
        per_unit = [unit // cfg.hop_length // s for s in cfg.vq_strides]
        encode_once = model._encode_once
    chunk_units = 3 * margin
    one_shot = encode_once(x)
    bare = chunked.overlapped_encode(encode_once, x, unit, per_unit, chunk_units, 0)
    for got, want, f in zip(bare, one_shot, per_unit, strict=True):
        differs = (got != want).reshape(-1, got.shape[-1]).any(axis=0)
        frames = np.arange(got.shape[-1])
        seams = np.arange(chunk_units, int(np.ceil(len(x) / unit)), chunk_units) * f
        near = np.abs(frames[:, None] - seams[None]).min(axis=1) < margin * f
        assert differs.any() and differs[near].any()  # the context is needed ...
        assert not differs[~near].any()  # ... and only within `margin` units of a seam
        assert 0.7 < (~differs).mean() < 1.0


def test_vocos_mel_chunked_features_equal_one_shot(models, short_streams):
    """Log-mels of a 9 s clip in 2 s chunks with one STFT window of context: within 1e-5 of one shot
    (measured 5e-7 on features of magnitude ~4), for clips ending on and off a hop."""
    model = models["vocos"]
    for seconds in (9.0, 9.005):
        x = clip(seconds, model.sample_rate, seed=1)
        streamed = model.encode(x)
        chunked.STREAM_SECONDS = 60
        one_shot = model.encode(x)
        chunked.STREAM_SECONDS = 1
        assert streamed.shape == one_shot.shape and one_shot.std() > 0.1
        np.testing.assert_allclose(streamed, one_shot, atol=1e-5, rtol=0)


def test_vocos_encodec_variant_streams_through_encodec(monkeypatch):
    """The EnCodec variant's codes come from EnCodec's causal streaming (`encodec.streaming`): equal to one shot."""
    from mlx_audio_lab.models.codecs.encodec import model as encodec_model

    model = mlx_audio_lab.load(build("vocos", "encodec"))
    x = clip(3.1, model.sample_rate, seed=2)
    want = model.encode(x)
    assert len(np.unique(want)) > 10
    monkeypatch.setattr(encodec_model, "STREAM_SECONDS", 1)
    calls = []
    real = encodec_model.Encodec.encode
    from mlx_audio_lab.models.codecs.encodec import streaming

    real_stream = streaming.stream_encode
    monkeypatch.setattr(streaming, "stream_encode", lambda *a, **k: calls.append(1) or real_stream(*a, **k))
    np.testing.assert_array_equal(real(model.encodec, x, bandwidth=model.config.feature_extractor.bandwidths[-1]),
                                  want)
    np.testing.assert_array_equal(model.encode(x), want)
    assert len(calls) == 2


@pytest.mark.parametrize("name, seconds", [("dac", 6), ("snac", 4), ("vocos", 8)])
def test_long_clip_memory_is_bounded(models, name, seconds, short_streams):
    """Encoding 4x the clip in chunks needs no more MLX memory than the clip in chunks (one chunk's worth),
    and less than half of what one shot of the long clip needs (its activations grow with its length)."""
    model = models[name]
    rate = model.sample_rate
    short, long = clip(seconds, rate), clip(4 * seconds, rate, seed=2)
    streamed_short = helpers.peak_growth_mb(lambda: model.encode(short))
    streamed_long = helpers.peak_growth_mb(lambda: model.encode(long))
    chunked.STREAM_SECONDS = 60
    one_shot_long = helpers.peak_growth_mb(lambda: model.encode(long))
    print(f"{name}: peak MB streamed {streamed_short:.1f} ({seconds} s), {streamed_long:.1f} ({4 * seconds} s); "
          f"one shot {one_shot_long:.1f} ({4 * seconds} s)")
    assert streamed_long < 1.2 * streamed_short + 4, (streamed_short, streamed_long)
    assert streamed_long < 0.5 * one_shot_long, (streamed_long, one_shot_long)
