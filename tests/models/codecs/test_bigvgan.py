"""BigVGAN port: every layer against the `bigvgan` package on both released config schemas (and the Snake /
AMPBlock2 paths), the anti-aliasing filters and resamplers, mel -> waveform, the decode and parity CLIs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import helpers
import mlx.core as mx
import numpy as np
import pytest

import mlx_audio_lab
from mlx_audio_lab import cli, parity
from mlx_audio_lab.layers.antialias import Activation1d, DownSample1d, UpSample1d, kaiser_sinc_filter
from mlx_audio_lab.layers.snake import Snake1d, SnakeBeta
from mlx_audio_lab.models.codecs.bigvgan import reference as bigvgan_reference
from mlx_audio_lab.parity.core import report_from_json

folder, model, reference = helpers.fixture_trio("bigvgan")
CONFIGS = Path(__file__).resolve().parents[3] / "benchmarks" / "configs"
ONE_ULP = 1.2e-7  # float32 spacing just below 1: the taps are under 0.5


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The reference runs ~200 small convs: on this shared CPU torch's thread pool spins (20x slower seen)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _channels_last(x: np.ndarray) -> mx.array:
    return mx.array(np.swapaxes(x, -1, -2))


def _channels_first(x: mx.array) -> np.ndarray:
    return np.swapaxes(np.array(x), -1, -2)


def test_upstream_layout_is_detected_without_model_type(folder, model):
    import torch

    config = json.loads((folder / "config.json").read_text())
    checkpoint = torch.load(folder / "bigvgan_generator.pt", weights_only=True)
    assert "model_type" not in config and list(checkpoint) == ["generator"]
    assert any(k.endswith("weight_g") for k in checkpoint["generator"])  # weight norm kept, as the hub files
    assert type(model).__name__ == "BigVGAN" and model.sample_rate == 24_000 and model.hop_length == 256


@pytest.mark.parametrize("variant, size", [("bigvgan_v2_24khz_100band_256x", "tiny"),
                                           ("bigvgan_v2_22khz_80band_256x", "tiny_22khz")])
def test_fixture_configs_follow_the_real_configs(variant, size):
    """The fixtures keep the released configs' schema and values except the width (benchmarks/configs/ holds the
    real files, from NVIDIA/BigVGAN v2.4's configs/)."""
    real = {k: v for k, v in json.loads((CONFIGS / f"{variant}.json").read_text()).items() if not k.startswith("_")}
    tiny = bigvgan_reference.SIZES[size]
    assert set(real) == set(tiny)
    assert {k for k in real if real[k] != tiny[k]} == {"upsample_initial_channel"}


def test_parity_cli_every_layer_on_the_fixture(capsys):
    """`mlx-audio-lab parity bigvgan --weights fixture --json`: conv_pre, each upsampler, each AMP block,
    activation_post and conv_post within tolerance, the waveform within 1e-4."""
    assert cli.main(["parity", "bigvgan", "--weights", "fixture", "--json"]) == 0
    report = report_from_json(capsys.readouterr().out)
    names = helpers.assert_parity_every_layer(report)
    assert names == ["conv_pre"] + [n for i in range(6) for n in [f"ups.{i}.0"]
                                    + [f"resblocks.{3 * i + j}" for j in range(3)]] + ["activation_post", "conv_post"]


@pytest.mark.parametrize("size", ["tiny_22khz", "tiny_snake"])
def test_other_variants_parity_every_layer(size):
    """22 kHz 80-band (SnakeBeta, AMPBlock1, clamp) and Snake + AMPBlock2 + tanh + conv_post bias."""
    from mlx_audio_lab.fixtures import build

    variant = build("bigvgan", size)
    port = mlx_audio_lab.load(variant)
    assert port.config.num_mels == 80 and port.sample_rate == 22_050
    assert type(port.resblocks[0]).__name__ == ("AMPBlock2" if size == "tiny_snake" else "AMPBlock1")
    helpers.assert_parity_every_layer(parity.run("bigvgan", weights=variant))


def test_lowpass_taps_equal_the_reference(reference):
    """Every upsampler's and downsampler's taps (computed by the port) equal the reference's buffers."""
    up, down = UpSample1d(2, 12).taps, DownSample1d(2, 12).lowpass.taps
    buffers = {k: v.reshape(-1).numpy() for k, v in reference.state_dict().items() if k.endswith("filter")}
    assert len(buffers) == 2 * (18 * 6 + 1)  # 6 activations per AMPBlock1, 18 blocks, plus activation_post
    for k, v in buffers.items():
        assert np.abs((up if ".upsample." in k else down) - v).max() <= ONE_ULP, k
    assert abs(float(up.sum()) - 1.0) < 1e-6 and np.argmax(up) in (5, 6)


@pytest.mark.parametrize("cutoff, half_width, size", [(0.25, 0.3, 12), (1 / 6, 0.2, 18), (0.25, 0.3, 11),
                                                      (0.1, 0.01, 8)])
def test_kaiser_sinc_filter_matches_reference_recipe(cutoff, half_width, size):
    from bigvgan.alias_free_activation.torch.filter import kaiser_sinc_filter1d

    want = kaiser_sinc_filter1d(cutoff, half_width, size).reshape(-1).numpy()
    assert np.abs(kaiser_sinc_filter(cutoff, half_width, size) - want).max() <= ONE_ULP


@pytest.mark.parametrize("ratio", [2, 3])
def test_resamplers_match_reference(ratio):
    import torch
    from bigvgan.alias_free_activation.torch.resample import DownSample1d as TorchDown
    from bigvgan.alias_free_activation.torch.resample import UpSample1d as TorchUp

    x = np.random.default_rng(ratio).standard_normal((2, 5, 41)).astype(np.float32)
    with torch.no_grad():
        want_up, want_down = (m(torch.from_numpy(x)).numpy() for m in (TorchUp(ratio), TorchDown(ratio)))
    got_up = _channels_first(UpSample1d(ratio)(_channels_last(x)))
    got_down = _channels_first(DownSample1d(ratio)(_channels_last(x)))
    assert got_up.shape == want_up.shape == (2, 5, 41 * ratio) and got_down.shape == want_down.shape
    assert np.abs(got_up - want_up).max() < 1e-5 and np.abs(got_down - want_down).max() < 1e-5


@pytest.mark.parametrize("beta", [False, True])
@pytest.mark.parametrize("logscale", [False, True])
def test_snake_and_snakebeta_anti_aliased_match_reference(beta, logscale):
    """Snake / SnakeBeta (log-scale or linear parameters) inside the 2x up / down resampling, vs upstream."""
    import torch
    from bigvgan.activations import Snake as TorchSnake
    from bigvgan.activations import SnakeBeta as TorchSnakeBeta
    from bigvgan.alias_free_activation.torch.act import Activation1d as TorchActivation1d

    g = torch.Generator().manual_seed(0)
    ref_act = (TorchSnakeBeta if beta else TorchSnake)(6, alpha_logscale=logscale)
    ours = (SnakeBeta if beta else Snake1d)(6, logscale=logscale)
    with torch.no_grad():
        for name, p in ref_act.named_parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g) + (0.0 if logscale else 1.5))
            setattr(ours, name, mx.array(p.numpy()))
    x = np.random.default_rng(1).standard_normal((1, 6, 300)).astype(np.float32) * 2
    with torch.no_grad():
        want = TorchActivation1d(ref_act)(torch.from_numpy(x)).numpy()
        want_plain = ref_act(torch.from_numpy(x)).numpy()
    assert np.abs(_channels_first(ours(_channels_last(x))) - want_plain).max() < 1e-5
    assert np.abs(_channels_first(Activation1d(ours)(_channels_last(x))) - want).max() < 1e-5



@pytest.mark.parametrize("path", ["native", "compiled"])
@pytest.mark.parametrize("beta, ratio, channels", [(True, 2, 48), (False, 2, 24), (True, 3, 40), (True, 2, 7)])
def test_fused_anti_aliased_snake_matches_plain_and_reference(monkeypatch, path, beta, ratio, channels):
    """Above the fast-path size the CPU paths (polyphase branches, Snake per branch, no interleaved signal: the
    direct C kernel, or one compiled MLX function where it is not built) equal the plain path and upstream's
    Activation1d within float32 rounding; channel counts with a partial 16-channel tile, and fewer than 16."""
    import torch

    from mlx_audio_lab.layers import antialias
    from mlx_audio_lab.layers.cpu import native

    if path == "native" and native.library() is None:
        pytest.skip("the direct kernels are not built (no C compiler)")
    if path == "compiled":
        monkeypatch.setattr(native.KERNEL, "_lib", [None])
    else:  # the compiled function must not run
        monkeypatch.setattr(antialias, "_fused", lambda *a: pytest.fail("the compiled MLX path ran"))
    from bigvgan.activations import Snake as TorchSnake
    from bigvgan.activations import SnakeBeta as TorchSnakeBeta
    from bigvgan.alias_free_activation.torch.act import Activation1d as TorchActivation1d

    from mlx_audio_lab.layers.fast_math import MIN_FAST_SIZE, fast_math_active, plain_math

    frames = 70_000 // channels + 301
    assert ratio * channels * frames >= MIN_FAST_SIZE and fast_math_active(ratio * channels * frames)
    g = torch.Generator().manual_seed(ratio)
    ref_act = (TorchSnakeBeta if beta else TorchSnake)(channels, alpha_logscale=True)
    ours = (SnakeBeta if beta else Snake1d)(channels, logscale=True)
    with torch.no_grad():
        for name, p in ref_act.named_parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
            setattr(ours, name, mx.array(p.numpy()))
    x = np.random.default_rng(ratio).standard_normal((2, channels, frames)).astype(np.float32) * 2
    kernel = int(6 * ratio // 2) * 2
    act = Activation1d(ours, ratio, ratio, kernel, kernel)
    with torch.no_grad():
        want = TorchActivation1d(ref_act, ratio, ratio, kernel, kernel)(torch.from_numpy(x)).numpy()
    fast = act(_channels_last(x))
    with plain_math():
        plain = act(_channels_last(x))
    assert float(mx.abs(fast - plain).max()) < 1e-5 < float(mx.abs(fast).max())
    assert np.abs(_channels_first(fast) - want).max() < 1e-5

def test_speech_mel_to_waveform_close(model, reference, clip):
    """The reference's log-mel of a whole espeak sentence, decoded by both: the waveform within 1e-4."""
    import torch

    mel = bigvgan_reference.reference_mel(model.source, clip)
    with torch.no_grad():
        want = reference(torch.from_numpy(mel)[None])[0, 0].numpy()
    got = model.decode(mel)
    assert got.shape == (mel.shape[1] * 256,)
    helpers.assert_decoded_close(got, want)


def test_decode_cli_takes_a_mel(folder, model, reference, tmp_path, capsys):
    """`mlx-audio-lab decode --model <folder> mel.npy --out out.wav` writes the port's waveform."""
    import soundfile as sf

    mel = bigvgan_reference.parity_inputs(folder)["mel"][:, :40]
    np.save(tmp_path / "mel.npy", mel)
    assert cli.main(["decode", "--model", str(folder), str(tmp_path / "mel.npy"), "--out",
                     str(tmp_path / "out.wav")]) == 0
    audio, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert rate == 24_000 and audio.shape == (40 * 256,)
    assert np.abs(audio - model.decode(mel)).max() <= 1e-6 and audio.std() > 1e-3


def test_decode_cli_names_a_mel_of_the_wrong_shape(folder, tmp_path, capsys):
    np.save(tmp_path / "mel.npy", np.zeros((80, 10), np.float32))
    assert cli.main(["decode", "--model", str(folder), str(tmp_path / "mel.npy"), "--out",
                     str(tmp_path / "out.wav")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "n_mels=100" in err and "(80, 10)" in err
    assert not (tmp_path / "out.wav").exists()


def test_mlx_layout_round_trip(model, tmp_path):
    helpers.assert_round_trip(model, tmp_path)


def _edit_checkpoint(folder: Path, tmp_path: Path, edit) -> Path:
    import torch

    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    state = torch.load(bad / "bigvgan_generator.pt", weights_only=True)
    edit(state["generator"])
    torch.save(state, bad / "bigvgan_generator.pt")
    return bad


def test_missing_key_is_named(folder, tmp_path):
    from mlx_audio_lab.convert import CheckpointError

    bad = _edit_checkpoint(folder, tmp_path, lambda s: s.pop("resblocks.4.activations.2.act.beta"))
    with pytest.raises(CheckpointError, match=r"missing \(1\): resblocks\.4\.activations\.2\.act\.beta"):
        mlx_audio_lab.load(bad)


def test_foreign_lowpass_taps_are_refused(folder, tmp_path):
    def edit(s):
        s["resblocks.2.activations.1.upsample.filter"] = s["resblocks.2.activations.1.upsample.filter"].flip(-1) * 2
    with pytest.raises(ValueError, match=r"resblocks\.2\.activations\.1\.upsample\.filter: low-pass taps"):
        mlx_audio_lab.load(_edit_checkpoint(folder, tmp_path, edit))


def test_checkpoint_without_weight_norm_loads_the_same(folder, model, reference, tmp_path):
    """Upstream also loads generators saved after `remove_weight_norm` (plain `.weight`s)."""
    import copy

    import torch

    plain = copy.deepcopy(reference)
    plain.remove_weight_norm()
    dst = tmp_path / "plain"
    shutil.copytree(folder, dst)
    torch.save({"generator": plain.state_dict()}, dst / "bigvgan_generator.pt")
    base, got = helpers.params(model), helpers.params(mlx_audio_lab.load(dst))
    assert base.keys() == got.keys()
    for k, v in got.items():
        assert np.abs(v - base[k]).max() <= 1e-6, k


def test_fast_snakebeta_matches_plain_math():
    """Above 65k elements the CPU takes fast_math's polynomial sine; SnakeBeta's separate magnitude goes along."""
    from mlx_audio_lab.layers.fast_math import plain_math

    act = SnakeBeta(8, logscale=True)
    act.alpha, act.beta = mx.array(np.linspace(-1, 1.5, 8, dtype=np.float32)), mx.array(np.linspace(1, -1, 8))
    x = mx.array(np.random.default_rng(0).standard_normal((1, 1 << 14, 8)).astype(np.float32) * 3)
    with plain_math():
        want = np.array(act(x))
    with mx.stream(mx.cpu):
        got = np.array(act(x))
    assert np.abs(got - want).max() < 1e-5


def test_lowpass_response_in_hz():
    """At the doubled rate of the last stage (48 kHz): unit gain at DC, -6 dB at the cutoff (the audio Nyquist),
    below -35 dB from 18 kHz up."""
    from mlx_audio_lab.layers.antialias import frequency_response

    freqs, gain = frequency_response(UpSample1d(2).taps, 48_000)
    at = lambda hz: gain[np.argmin(np.abs(freqs - hz))]  # noqa: E731
    assert abs(at(0)) < 1e-4 and abs(at(12_000) + 6.0) < 0.5 and gain[freqs >= 18_000].max() < -35


@pytest.mark.slow
def test_real_size_generator_every_layer(tmp_path):
    """nvidia/bigvgan_v2_24khz_100band_256x's real shapes (1536 channels, 112 M parameters) with seeded weights
    (unit gains: activations grow to ~300): every layer within 2e-5 of the reference relative to its scale."""
    import torch

    from mlx_audio_lab.fixtures import randomize_
    from mlx_audio_lab.models.codecs.reference import capture_reference
    from mlx_audio_lab.taps import capture

    config = bigvgan_reference.V2_24KHZ_100BAND
    torch.manual_seed(0)
    ref = bigvgan_reference.generator_from_config(config).eval()
    randomize_(ref, seed=0, std=0.02, keep=tuple(n for n, _ in ref.named_buffers()))
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if name.endswith("weight_g"):
                p.fill_(1.0)
    (tmp_path / "config.json").write_text(json.dumps(config))
    torch.save({"generator": ref.state_dict()}, tmp_path / "bigvgan_generator.pt")
    port = mlx_audio_lab.load(tmp_path)
    mel = np.random.default_rng(0).standard_normal((100, 12)).astype(np.float32) - 4
    points = bigvgan_reference.tap_points(tmp_path)
    want, _ = capture_reference(ref, points, lambda: ref(torch.from_numpy(mel)[None]))
    with capture() as got:
        port.decode(mel)
    for p in points:
        ours, theirs = np.array(got[p.name]), np.swapaxes(want[p.ref], -1, -2)
        assert ours.shape == theirs.shape and np.abs(ours - theirs).max() <= 2e-5 * np.abs(theirs).max(), p.name
