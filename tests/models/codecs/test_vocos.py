"""Vocos port: layer-by-layer parity (mel and EnCodec variants, the latter from audio through EnCodec codes),
iSTFT level, speech decode, the EnCodec variant's encode, bad checkpoints."""

from __future__ import annotations

import helpers
import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

import mlx_audio_lab
from mlx_audio_lab import parity

folder, model, reference = helpers.fixture_trio("vocos")
encodec_folder, encodec_model, encodec_reference = helpers.fixture_trio(
    "vocos", "encodec", ("encodec_folder", "encodec_model", "encodec_reference"))


@pytest.fixture(scope="module")
def clip(espeak):
    from mlx_audio_lab.fixtures.speech import speech

    return speech("harbor", 24000)[:72000]


@pytest.mark.parametrize("variant", ["mel", "encodec"])
def test_fixture_parity_every_layer(variant, folder, encodec_folder):
    report = parity.run("vocos", weights=folder if variant == "mel" else encodec_folder)
    names = helpers.assert_parity_every_layer(report)
    assert names[0] == ("feature_extractor" if variant == "mel" else "encoder.layers.0")  # EnCodec encodes audio
    assert names[-1] == "head.istft" and "feature_extractor" in names
    assert {"head.magnitude", "head.phase", "backbone.convnext.1"} <= set(names)
    if variant == "encodec":
        assert report.outputs_note.startswith("codes identical")


def test_istft_level_matches_reference(model, reference, clip):
    """Squared-window normalization: the RMS equals the reference's; a window-sum one would be 0.75x."""
    import torch

    from mlx_audio_lab import dsp

    with torch.no_grad():
        feats = reference.feature_extractor(torch.from_numpy(clip)[None])
        want = reference.decode(feats)[0].numpy()
    got = model.decode(feats[0].numpy())
    rms = lambda a: float(np.sqrt(np.mean(np.asarray(a, np.float64) ** 2)))  # noqa: E731
    assert abs(rms(got) - rms(want)) <= 1e-4 and rms(want) > 1e-2
    # the same spectrum, overlap-added and divided by the summed window (not its square): level x 4/3
    h = model.config.head
    hidden = model.backbone(mx.array(feats.numpy()).swapaxes(1, 2))
    mag, phase = (np.array(a[0], np.float64) for a in model.head.spectrum(hidden))
    win = np.array(dsp.get_window("hann", h.n_fft), np.float64)
    frames = np.fft.irfft(mag * np.exp(1j * phase), n=h.n_fft, axis=-1) * win
    total = h.n_fft + h.hop_length * (len(frames) - 1)
    ola, env_sq, env_sum = np.zeros(total), np.zeros(total), np.zeros(total)
    for t, frame in enumerate(frames):
        sl = slice(t * h.hop_length, t * h.hop_length + h.n_fft)
        ola[sl] += frame
        env_sq[sl] += win ** 2
        env_sum[sl] += win
    pad = (h.n_fft - h.hop_length) // 2
    right = (ola / env_sq)[pad:-pad]
    wrong = (ola / env_sum)[pad:-pad]
    assert abs(rms(right) - rms(want)) <= 1e-4
    assert abs(rms(wrong) / rms(want) - 0.75) < 1e-3  # hann, 75 % overlap: sum w^2 = 1.5, sum w = 2


def test_decode_speech_features_close(model, reference, clip):
    """The reference's log-mel of an espeak clip, decoded by both: audio within 1e-4."""
    import torch

    with torch.no_grad():
        feats = reference.feature_extractor(torch.from_numpy(clip)[None])
        want = reference.decode(feats)[0].numpy()
    got = model.decode(feats[0].numpy())
    assert got.dtype == np.float32 and got.shape == want.shape == (feats.shape[-1] * 256,)
    assert np.abs(got - want).max() <= 1e-4
    assert got.std() > 1e-3


def test_speech_features_close_above_fp32_floor(model, reference, clip):
    """Clean-clip log-mel: within 1e-4 wherever the mel is above 1e-3 of its peak (below it, fp32 STFT
    rounding, ~1e-7 of the peak on both sides, is what the log amplifies)."""
    import torch

    with torch.no_grad():
        mel = reference.feature_extractor.mel_spec(torch.from_numpy(clip)[None])[0].numpy()
        want = reference.feature_extractor(torch.from_numpy(clip)[None])[0].numpy()
    got = model.encode(clip)
    assert got.shape == want.shape == (100, len(clip) // 256 + 1)
    above = mel > 1e-3 * mel.max()
    assert above.mean() > 0.7, above.mean()
    assert np.abs(got - want)[above].max() <= 1e-4
    np.testing.assert_allclose(np.exp(got), np.maximum(mel, 1e-7), rtol=0, atol=2e-6 * mel.max())


def test_encodec_variant_bandwidths(encodec_model, encodec_reference):
    """Codes at each bandwidth (2 or 4 codebooks): the id follows the codebook count, as upstream uses it."""
    import torch

    model, ref = encodec_model, encodec_reference
    assert (model.config.feature_extractor.codebook_size, model.config.feature_extractor.num_quantizers) == (64, 4)
    codes = np.random.default_rng(3).integers(0, 64, (4, 40))
    for bw_id, n_q in enumerate((2, 4)):
        with torch.no_grad():
            want = ref.decode(ref.codes_to_features(torch.from_numpy(codes[:n_q])),
                              bandwidth_id=torch.tensor([bw_id]))[0].numpy()
        got = model.decode(codes[:n_q])
        assert got.shape == want.shape == (40 * 320,)
        assert np.abs(got - want).max() <= 1e-4
    with pytest.raises(ValueError, match="not one of"):
        model.decode(codes[:2], bandwidth=3.0)


@pytest.mark.parametrize("bandwidth_id", [0, 1])
def test_encodec_variant_encode_matches_vocos(encodec_model, encodec_reference, clip, bandwidth_id):
    """audio -> EnCodec codes -> features -> audio, against vocos' EncodecFeatures and forward at that id."""
    import torch

    x, bw = torch.from_numpy(clip)[None], torch.tensor([bandwidth_id])
    fe = encodec_reference.feature_extractor
    with torch.no_grad():
        want_feats = fe(x, bandwidth_id=bw)  # sets EnCodec's bandwidth to bandwidths[id]
        want_codes = fe.get_encodec_codes(x)[:, 0].numpy()
        want_audio = encodec_reference(x, bandwidth_id=bw)[0].numpy()
    codes = encodec_model.encode(clip, bandwidth_id=bandwidth_id)
    assert codes.dtype == np.int64 and codes.shape == want_codes.shape == (2 * (bandwidth_id + 1), 225)
    np.testing.assert_array_equal(codes, want_codes)
    assert len(np.unique(want_codes[0])) >= 10, "codebook 0 nearly constant: the fixture hides mapping bugs"
    feats = np.array(encodec_model.codes_to_features(codes)[0]).T
    assert np.abs(feats - want_feats[0].numpy()).max() <= 1e-4
    audio = encodec_model.decode(encodec_model.encode(clip, bandwidth=fe.bandwidths[bandwidth_id]))
    assert audio.shape == want_audio.shape == clip.shape
    assert np.abs(audio - want_audio).max() <= 1e-4 and audio.std() > 1e-3


def test_encodec_variant_uses_its_encodec(encodec_folder, encodec_model, clip):
    """The EnCodec comes from the fixture's `encodec/` folder, is no parameter, and must match the codebooks."""
    from mlx_audio_lab.fixtures import build
    from mlx_audio_lab.models.codecs.vocos.load import encodec_source

    fe = encodec_model.config.feature_extractor
    assert encodec_source(fe, encodec_folder) == encodec_folder / "encodec"
    assert encodec_source(fe, None) == "facebook/encodec_24khz"  # the real variant's EnCodec
    port = mlx_audio_lab.load(encodec_folder / "encodec")
    np.testing.assert_array_equal(encodec_model.encode(clip[:24000]), port.encode(clip[:24000], bandwidth=1.8))
    assert encodec_model.encode(clip[:24000]).shape == (4, 75)  # default: the largest bandwidth
    assert not any(k.startswith(("encodec", "_encodec")) for k, _ in tree_flatten(encodec_model.parameters()))
    with pytest.raises(ValueError, match="mono EnCodec"):
        encodec_model.use_encodec(mlx_audio_lab.load(build("encodec", "48khz")))
    other = mlx_audio_lab.load(encodec_folder / "encodec")
    other.quantizer.layers[1].codebook.embed = other.quantizer.layers[1].codebook.embed + 1e-3
    with pytest.raises(ValueError, match="codebooks are not the ones"):
        encodec_model.use_encodec(other)
    with pytest.raises(ValueError, match="bandwidth_id 2"):
        encodec_model.encode(clip[:24000], bandwidth_id=2)
    with pytest.raises(ValueError, match="mono audio"):
        encodec_model.encode(np.stack([clip, clip], 1))


def test_saved_encodec_variant_keeps_its_encodec(encodec_folder, encodec_model, clip, tmp_path):
    """`save_model` copies `encodec/` beside the weights, so the saved folder encodes offline, identically."""
    from mlx_audio_lab.convert.save import save_model

    saved = save_model(encodec_model, tmp_path / "mlx")
    assert (saved / "encodec" / "config.json").is_file()
    again = mlx_audio_lab.load(saved)
    codes = encodec_model.encode(clip[:24000])
    assert len(np.unique(np.array(codes))) > 4  # the codes vary
    np.testing.assert_array_equal(again.encode(clip[:24000]), codes)


def test_mel_variant_has_no_encodec(model, clip):
    with pytest.raises(TypeError, match="no bandwidths"):
        model.encode(clip[:24000], bandwidth_id=0)
    with pytest.raises(TypeError, match="only the EnCodec variant"):
        model.encodec  # noqa: B018


def test_cli_encode_decode_encodec_variant(encodec_folder, encodec_model, clip, tmp_path):
    import soundfile as sf

    from mlx_audio_lab.audio import save_audio
    from mlx_audio_lab.cli import main

    save_audio(tmp_path / "in.wav", clip[:24000], 24000)
    folder = str(encodec_folder)
    assert main(["encode", "--model", folder, "--bandwidth", "0.9", str(tmp_path / "in.wav"),
                 "--out", str(tmp_path / "c.npy")]) == 0
    codes = np.load(tmp_path / "c.npy")
    np.testing.assert_array_equal(codes, encodec_model.encode(clip[:24000], bandwidth=0.9))
    assert main(["decode", "--model", folder, str(tmp_path / "c.npy"), "--out", str(tmp_path / "o.wav")]) == 0
    out, rate = sf.read(tmp_path / "o.wav", dtype="float32")
    assert rate == 24000 and np.abs(out - encodec_model.decode(codes)).max() <= 1e-6


def test_mlx_layout_round_trip(folder, model, tmp_path):
    again = helpers.assert_round_trip(model, tmp_path)
    x = np.random.default_rng(0).standard_normal((100, 20)).astype(np.float32)
    np.testing.assert_array_equal(again.decode(x), model.decode(x))


def test_missing_key_is_named(folder, tmp_path):
    msg = helpers.checkpoint_error(folder, tmp_path, lambda s: s.pop("backbone.convnext.1.gamma"))
    assert "missing (1): backbone.convnext.1.gamma" in msg


def test_misshaped_and_unexpected_keys_are_named(folder, tmp_path):
    def edit(s):
        s["head.out.bias"] = s["head.out.bias"][:10]
        s["backbone.extra.weight"] = s["head.out.bias"]
    msg = helpers.checkpoint_error(folder, tmp_path, edit)
    assert "mis-shaped: head.out.bias has shape (10,), the model expects (1026,)" in msg
    assert "backbone.extra.weight" in msg


def test_shim_filter_bank_matches_transformers_and_dsp():
    """The torchaudio stand-in's HTK filter bank equals transformers' (an independent implementation)."""
    from transformers.audio_utils import mel_filter_bank

    from mlx_audio_lab import dsp
    from mlx_audio_lab.models.codecs.vocos.torch_shim import _torchaudio

    fb = _torchaudio().functional.melscale_fbanks(513, 0.0, 12000.0, 100, 24000).numpy()
    hf = mel_filter_bank(num_frequency_bins=513, num_mel_filters=100, min_frequency=0.0, max_frequency=12000.0,
                         sampling_rate=24000, norm=None, mel_scale="htk")
    assert np.abs(fb - hf).max() < 1e-5
    assert np.abs(np.array(dsp.mel_filters(24000, 1024, 100)) - hf).max() < 1e-6


def test_shims_leave_no_trace():
    """After importing vocos, no torchaudio / encodec stand-in stays importable (transformers is unaffected)."""
    import importlib.util
    import sys

    from mlx_audio_lab.models.codecs.vocos.torch_shim import import_vocos

    vocos, used = import_vocos()
    assert vocos.Vocos.__name__ == "Vocos"
    assert "torchaudio" not in sys.modules or not getattr(sys.modules["torchaudio"], "__shim__", False)
    if used["torchaudio"]:
        assert importlib.util.find_spec("torchaudio") is None
    from transformers import WhisperFeatureExtractor  # noqa: F401


def test_cli_encode_features(folder, clip, tmp_path):
    from mlx_audio_lab.audio import save_audio
    from mlx_audio_lab.cli import main

    save_audio(tmp_path / "in.wav", clip[:24000], 24000)
    assert main(["encode", "--model", str(folder), str(tmp_path / "in.wav"), "--out", str(tmp_path / "f.npy")]) == 0
    feats = np.load(tmp_path / "f.npy")
    assert feats.shape == (100, 24000 // 256 + 1) and feats.dtype == np.float32
    assert mx.array(feats).dtype == mx.float32
