"""S3TokenizerV2 port: log-mel equal to `s3tokenizer`'s, every layer within fp32 tolerance, tokens identical to
the reference on the wheel's real speech (single, padded batch, > 30 s windows), ties explained, loaders, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import helpers
import mlx.core as mx
import numpy as np
import pytest

import mlx_audio_lab
from mlx_audio_lab import parity
from mlx_audio_lab.models.codecs.s3_tokenizer.assets import speech_clip, speech_clips
from mlx_audio_lab.models.codecs.s3_tokenizer.quantizer import FSQuantizer

folder, model, reference = helpers.fixture_trio("s3_tokenizer")


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    return [speech_clip(0), speech_clip(1)]


def test_transformers_torchaudio_s3tokenizer_import_together():
    """torchaudio without its .so files (pure Python) beside transformers' Whisper front end and s3tokenizer."""
    code = ("import torchaudio, transformers, s3tokenizer, numpy as np\n"
            "from transformers import WhisperFeatureExtractor\n"
            "from torchaudio.compliance import kaldi\n"
            "f = WhisperFeatureExtractor()(np.zeros(16000, np.float32), sampling_rate=16000, return_tensors='np')\n"
            "m = s3tokenizer.log_mel_spectrogram(__import__('torch').zeros(16000))\n"
            "print(torchaudio.__version__, f['input_features'].shape, tuple(m.shape))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    version, *shapes = p.stdout.split(maxsplit=1)
    assert version.startswith("2.11") and "(1, 80, 3000)" in shapes[0] and "(128, 100)" in shapes[0]


def test_real_clips_ship_with_the_wheel(clips):
    assert [p.name for p in speech_clips()] == ["BAC009S0764W0121.wav", "BAC009S0764W0122.wav"]
    assert all(c.dtype == np.float32 and 4.0 < len(c) / 16000 < 4.5 and c.std() > 0.01 for c in clips)


def test_upstream_layout_is_detected_without_model_type(folder, model):
    config = json.loads((folder / "config.json").read_text())
    assert "model_type" not in config and (folder / "speech_tokenizer_v2_25hz.pt").is_file()
    assert type(model).__name__ == "S3TokenizerV2" and model.sample_rate == 16_000
    assert model.config.token_rate == 25 and model.codebook_size == 6561


def test_log_mel_equals_the_package(model, clips):
    import torch
    from s3tokenizer import log_mel_spectrogram

    for clip in clips:
        want = log_mel_spectrogram(torch.from_numpy(clip)).numpy().T  # (frames, 128)
        got = np.array(model.log_mel(clip))
        assert got.shape == want.shape == (len(clip) // 160, 128)
        assert np.abs(got - want).max() < 1e-4


def test_fixture_parity_every_layer(folder):
    report = parity.run("s3_tokenizer", weights=folder)
    names = helpers.assert_parity_every_layer(report)
    assert names[:3] == ["mel", "encoder.conv1", "encoder.conv2"] and names[-1] == "quantizer.values"
    assert "encoder.blocks.1.attn.fsmn_block" in names and "tokens identical" in report.outputs_note


def test_tokens_identical_on_real_speech(model, reference, clips):
    from mlx_audio_lab.models.codecs.s3_tokenizer.reference import reference_tokens, token_agreement

    for clip in clips:
        want, values = reference_tokens(reference, clip)
        got = model.tokenize(clip)
        assert got.shape == want.shape == (-(-(len(clip) // 160) // 4),)
        agreement = token_agreement(got, want, values)
        assert agreement["agree"] == 1.0 and agreement["differ"] == 0, agreement
        assert len(np.unique(want)) > len(want) // 2  # tokens vary: the fixture's FSQ is not degenerate
        # how near a tie came: every squashed value stays clear of +-0.5 by far more than the port's error
        assert np.abs(np.abs(values) - 0.5).min() > 1e-5


def test_tie_classifier_explains_only_boundary_flips():
    from mlx_audio_lab.models.codecs.s3_tokenizer.reference import token_agreement

    values = np.full((4, 8), 0.9, np.float32)
    values[1, 3] = 0.50001  # a tie: rounding may go either way
    want = np.array([10, 11, 12, 13])
    tie = token_agreement(np.array([10, 99, 12, 13]), want, values)
    assert tie == {**tie, "agree": 0.75, "differ": 1, "ties": 1, "all_ties": True}
    real = token_agreement(np.array([10, 11, 99, 13]), want, values)  # frame 2 is nowhere near a boundary
    assert real["differ"] == 1 and real["ties"] == 0 and not real["all_ties"]


def test_fsq_digits_to_token():
    import torch

    q = FSQuantizer(4)
    values = mx.array([[[0.7, -0.6, 0.1, -0.2, 0.51, -0.49, 0.5, -0.99]]])  # exactly 0.5: half to even -> 0
    digits = q.digits(values)
    assert np.array(digits).tolist() == [[[2, 0, 1, 1, 2, 1, 1, 0]]]
    assert np.array_equal(np.array(digits)[0, 0], (torch.round(torch.tensor(np.array(values)[0, 0])) + 1).numpy())
    assert int(q.tokens(digits)[0, 0]) == 2 + 0 * 3 + 1 * 9 + 1 * 27 + 2 * 81 + 1 * 243 + 1 * 729 + 0 * 2187


def test_padded_batch_matches_reference_and_single_runs(model, reference, clips):
    import torch
    from s3tokenizer import log_mel_spectrogram, padding

    mels, lengths = padding([log_mel_spectrogram(torch.from_numpy(c)) for c in clips])
    with torch.no_grad():
        want, want_len = reference.quantize(mels, lengths)
    got, got_len = model.quantize(mx.array(mels.numpy().transpose(0, 2, 1)), mx.array(lengths.numpy()))
    assert np.array(got_len).tolist() == want_len.tolist()
    for b, n in enumerate(want_len.tolist()):
        assert np.array_equal(np.array(got)[b, :n], want[b, :n].numpy())
        assert np.array_equal(np.array(got)[b, :n], model.tokenize(clips[b]))  # padding changes nothing


def test_long_audio_windows_match_reference(model, reference, clips):
    """Over 30 s: 30 s windows every 26 s, the last padded and masked, merged as the reference merges them."""
    import torch

    from mlx_audio_lab.models.codecs.s3_tokenizer.reference import reference_mel, reference_tokens, token_agreement

    long = np.concatenate([clips[0], clips[1]] * 4)  # 33 s
    want, values = reference_tokens(reference, long)
    mel = reference_mel(long)
    assert mel.shape[-1] > 3000 and values.shape == (len(want), 8)
    # the same log-mel on both sides: the windowing and merging give identical tokens
    assert np.array_equal(model._tokenize_windows(mx.array(mel.numpy().T)), want)
    # from the audio: float32 FFT noise in quiet frames (~4e-5) moves one value sitting on a rounding boundary
    agreement = token_agreement(model.tokenize(long), want, values)
    assert agreement["all_ties"] and agreement["differ"] <= 1 and agreement["max_gap"] < 1e-5, agreement
    assert torch.is_tensor(mel)


def test_max_tokens_cuts_the_mel_as_chatterbox_does(model, reference, clips):
    """Chatterbox's `S3Tokenizer.forward(max_len=n)`: the clip's log-mel cut to 4n frames, then quantized."""
    import torch

    from mlx_audio_lab.models.codecs.s3_tokenizer.reference import reference_mel

    mel = reference_mel(clips[0])[:, : 4 * 30]
    with torch.no_grad():
        want, _ = reference.quantize(mel[None], torch.tensor([mel.shape[-1]]))
    got = model.tokenize(clips[0], max_tokens=30)
    assert got.shape == (30,) and np.array_equal(got, want[0].numpy())


def test_too_short_audio_is_refused(model):
    from mlx_audio_lab.audio import AudioError

    with pytest.raises(AudioError, match="too short"):
        model.tokenize(np.zeros(100, np.float32))


def test_chatterbox_s3gen_layout_loads_the_same(folder, model, tmp_path):
    """Chatterbox keeps the tokenizer inside S3Gen's weights as `tokenizer.*`, with its mel filters and window."""
    import torch
    from safetensors.torch import save_file

    state = torch.load(folder / "speech_tokenizer_v2_25hz.pt", weights_only=True)
    s3gen = {f"tokenizer.{k}": v for k, v in state.items()}
    s3gen.update({"tokenizer._mel_filters": torch.zeros(128, 201), "tokenizer.window": torch.ones(400),
                  "flow.encoder.embed.weight": torch.zeros(2, 2)})
    dst = tmp_path / "chatterbox"
    dst.mkdir()
    (dst / "config.json").write_text((folder / "config.json").read_text())
    save_file(s3gen, str(dst / "s3gen.safetensors"))
    helpers.assert_same_parameters(model, mlx_audio_lab.load(dst))


def test_real_weights_asset_converts_the_downloaded_onnx(folder, model, tmp_path, monkeypatch):
    """`s3-tokenizer` = the ONNX file s3tokenizer downloads, through its own `onnx2torch` (stubbed here with the
    fixture's state dict: there is no real ONNX offline) into a folder `load` reads; absent, a clear error."""
    import s3tokenizer
    import torch

    from mlx_audio_lab.models.codecs.s3_tokenizer import reference as ref

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("MLX_AUDIO_LAB_CACHE", str(tmp_path / "lab"))
    with pytest.raises(FileNotFoundError, match="speech_tokenizer_v2_25hz.onnx is missing"):
        mlx_audio_lab.load("s3-tokenizer")
    (tmp_path / "xdg" / "s3tokenizer").mkdir(parents=True)
    (tmp_path / "xdg" / "s3tokenizer" / "speech_tokenizer_v2_25hz.onnx").write_bytes(b"onnx")
    state = torch.load(folder / "speech_tokenizer_v2_25hz.pt", weights_only=True)
    seen = []
    monkeypatch.setattr(s3tokenizer, "onnx2torch", lambda path, *a: seen.append(path) or state)
    monkeypatch.setattr(ref, "REAL", ref.SIZES["tiny"])
    helpers.assert_same_parameters(model, mlx_audio_lab.load("s3-tokenizer"))
    assert seen == [str(tmp_path / "xdg" / "s3tokenizer" / "speech_tokenizer_v2_25hz.onnx")]
    mlx_audio_lab.load("s3-tokenizer")  # converted once, then read from the cache
    assert len(seen) == 1


def test_mlx_layout_round_trip(model, tmp_path):
    helpers.assert_round_trip(model, tmp_path)


def _checkpoint_error(folder, tmp_path, edit) -> str:
    """Copy the fixture, `edit` its `.pt` state dict in place, and return the CheckpointError loading raises."""
    import shutil

    import torch

    from mlx_audio_lab.convert.keymap import CheckpointError

    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    state = torch.load(bad / "speech_tokenizer_v2_25hz.pt", weights_only=True)
    edit(state)
    torch.save(state, bad / "speech_tokenizer_v2_25hz.pt")
    with pytest.raises(CheckpointError) as e:
        mlx_audio_lab.load(bad)
    return str(e.value)


def test_missing_key_is_named(folder, tmp_path):
    msg = _checkpoint_error(folder, tmp_path, lambda s: s.pop("encoder.blocks.1.attn.fsmn_block.weight"))
    assert "missing (1): encoder.blocks.1.attn.fsmn_block.weight" in msg


def test_misshaped_key_is_named(folder, tmp_path):
    def edit(s):
        s["quantizer._codebook.project_down.weight"] = s["quantizer._codebook.project_down.weight"][:4]
    msg = _checkpoint_error(folder, tmp_path, edit)
    assert "mis-shaped: quantizer.project_down.weight has shape (4, 128), the model expects (8, 128)" in msg


def test_cli_encode_writes_tokens_and_refuses_bad_input(folder, model, tmp_path, monkeypatch, capsys):
    from mlx_audio_lab.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # no downloaded ONNX: `s3-tokenizer` is absent
    clip = speech_clips()[1]
    out = tmp_path / "tokens.npy"
    assert main(["encode", "--model", str(folder), str(clip), "--out", str(out)]) == 0
    tokens = np.load(out)
    assert tokens.shape == (1, 103) and np.array_equal(tokens, model.encode(speech_clip(1)))
    capsys.readouterr()
    for bad in (["encode", "--model", str(folder), str(tmp_path / "nope.wav"), "--out", str(out)],
                ["encode", "--model", "s3-tokenizer", str(clip), "--out", str(out)],  # no real weights offline
                ["encode", "--model", str(folder), str(clip), "--out", str(tmp_path / "tokens.txt")],
                ["decode", "--model", str(folder), str(out), "--out", str(tmp_path / "x.wav")]):
        assert main(bad) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err, err


def test_cli_parity_json_in_a_fresh_process(folder):
    p = subprocess.run([sys.executable, "-m", "mlx_audio_lab", "parity", "s3-tokenizer", "--weights", "fixture",
                        "--json"], capture_output=True, text=True, timeout=300)
    report = json.loads(p.stdout)
    assert p.returncode == 0 and report["ok"] and report["model"] == "s3_tokenizer"
    assert all(r["max_abs"] <= 1e-4 for r in report["layers"])
