"""Silero VAD port on the real weights (`silero-vad` wheel): window probabilities and every stage equal to the
package's TorchScript model at 16 and 8 kHz, segments identical to its `get_speech_timestamps`, streaming equal to
the whole clip, the TorchScript tensors read without running its code, and the fixture's parity."""

from __future__ import annotations

import io
import math
import pickle
import zipfile

import numpy as np
import pytest

import mlx_audio_lab
from mlx_audio_lab import parity
from mlx_audio_lab.convert.readers import UnsafeCheckpointError
from mlx_audio_lab.convert.torchscript import script_state_dict
from mlx_audio_lab.models.vad.silero import VADOptions, reference, speech_spans
from mlx_audio_lab.models.vad.silero.convert import TORCHSCRIPT

RATES = (16000, 8000)


@pytest.fixture(scope="module")
def model():
    return mlx_audio_lab.load("silero-vad")


@pytest.fixture(scope="module")
def ref():
    return reference.load_reference(mlx_audio_lab.hub.resolve("silero-vad"))


@pytest.fixture(scope="module")
def clips(espeak) -> dict[int, np.ndarray]:
    """Two sentences with 0.8 s pauses of silence then noise around them, at each rate (~6 s)."""
    from mlx_audio_lab.fixtures.speech import speech_with_pauses

    return {r: speech_with_pauses(("fox", "harbor"), r, pause=0.8, noise=0.003) for r in RATES}


@pytest.fixture(scope="module")
def ref_probs(ref, clips) -> dict[int, np.ndarray]:
    return {r: reference.reference_probabilities(ref, clips[r], r) for r in RATES}


def test_torchscript_tensors_read_without_torch_equal_the_jit_state_dict(model):
    import torch

    path = mlx_audio_lab.hub.resolve("silero-vad") / TORCHSCRIPT
    ours = script_state_dict(path)
    theirs = torch.jit.load(str(path)).state_dict()
    assert set(theirs) <= set(ours) and len(theirs) == 30
    for k, v in theirs.items():
        assert np.array_equal(ours[k], v.numpy()), k
    assert model.weight_files == {16000: TORCHSCRIPT, 8000: TORCHSCRIPT}


def test_torchscript_reader_refuses_any_other_global(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("root/data.pkl", pickle.dumps(Evil(), protocol=2))
    (tmp_path / "evil.jit").write_bytes(buf.getvalue())
    with pytest.raises(UnsafeCheckpointError, match="posix.system|os.system|refusing"):
        script_state_dict(tmp_path / "evil.jit")


@pytest.mark.parametrize("rate", RATES)
def test_window_probabilities_equal_the_torchscript_model(model, clips, ref_probs, rate):
    got, want = model.probabilities(clips[rate], rate), ref_probs[rate]
    assert got.shape == want.shape == (math.ceil(len(clips[rate]) / (512 if rate == 16000 else 256)),)
    assert np.abs(got - want).max() < 1e-4
    assert want.min() < 0.05 and want.max() > 0.95  # pauses and noise are silence, the sentences speech


@pytest.mark.parametrize("rate", RATES)
def test_every_stage_within_tolerance(clips, rate):
    """STFT magnitudes, the four encoder blocks, the LSTM's hidden states and the probabilities, per window."""
    from mlx_audio_lab.taps import capture

    folder = mlx_audio_lab.hub.resolve("silero-vad")
    ref_acts = reference.stages(reference.load_reference(folder), clips[rate], rate)
    vad = mlx_audio_lab.load("silero-vad")
    with capture() as acts:
        vad.probabilities(clips[rate], rate)
    name = "vad_16k" if rate == 16000 else "vad_8k"
    points = [p for p in reference.tap_points(folder) if p.name.startswith(name + ".")]
    report = parity.compare("silero_vad", points, {k: np.array(v) for k, v in acts.items()}, ref_acts, True)
    assert [r.name.split(".", 1)[1] for r in report.layers] == [
        "stft", "encoder.0", "encoder.1", "encoder.2", "encoder.3", "decoder.rnn", "probs"]
    assert report.ok, report.table()
    assert max(r.max_abs for r in report.layers) < 1e-4


@pytest.mark.parametrize("rate", RATES)
def test_segments_identical_to_get_speech_timestamps(model, ref, clips, rate):
    import torch
    from silero_vad import get_speech_timestamps

    want = get_speech_timestamps(torch.from_numpy(clips[rate]), ref, sampling_rate=rate)
    got = model.detect(clips[rate], rate)
    assert got.sample_spans == [(s["start"], s["end"]) for s in want] and len(want) == 2
    assert got.segments == [(a / rate, b / rate) for a, b in got.sample_spans]
    for (start, end), s in zip(got, want):  # the reference's own seconds are ours rounded to 0.1 s
        assert (round(start, 1), round(end, 1)) == (round(s["start"] / rate, 1), round(s["end"] / rate, 1))


OPTION_SETS = [
    {},
    dict(threshold=0.7, min_silence_duration_ms=300, speech_pad_ms=60, min_speech_duration_ms=100),
    dict(threshold=0.3, neg_threshold=0.2, speech_pad_ms=0),
    dict(max_speech_duration_s=1.0),  # cut at the longest silence inside (default rule)
    dict(max_speech_duration_s=1.0, use_max_poss_sil_at_max_speech=False, min_silence_at_max_speech=30),
    dict(max_speech_duration_s=0.5, min_silence_duration_ms=2000),  # hard cuts
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=range(len(OPTION_SETS)))
@pytest.mark.parametrize("rate", RATES)
def test_timestamp_rules_equal_the_reference(clips, ref_probs, rate, options):
    """Same probabilities in, same segments out, for thresholds, pads and the max-length cutting rules."""
    from silero_vad import get_speech_timestamps_from_probs

    probs = ref_probs[rate].tolist()
    want = get_speech_timestamps_from_probs(probs, sampling_rate=rate, audio_length_samples=len(clips[rate]),
                                            **options)
    got = speech_spans(probs, rate, 512 if rate == 16000 else 256, len(clips[rate]), VADOptions(**options))
    assert got == [(s["start"], s["end"]) for s in want] and got


@pytest.mark.filterwarnings("ignore:Sampling rate is a multiply of 16000")
def test_multiples_of_16k_are_decimated_as_the_reference_does(model, ref, clips):
    import torch
    from silero_vad import get_speech_timestamps

    audio = np.repeat(clips[16000], 3)[:-5]  # 48 kHz, not a whole number of windows
    want = get_speech_timestamps(torch.from_numpy(audio), ref, sampling_rate=48000)
    got = model.detect(audio, 48000)
    assert got.sample_spans == [(s["start"], s["end"]) for s in want]
    assert got.window_seconds == 512 * 3 / 48000


@pytest.mark.parametrize("rate", RATES)
def test_streaming_equals_whole_clip(model, clips, rate):
    audio = clips[rate]
    whole = model.probabilities(audio, rate)
    stream, got = model.stream(rate), []
    sizes = np.random.default_rng(rate).integers(1, 1500, size=len(audio))
    start = 0
    for size in sizes:
        if start >= len(audio):
            break
        got.append(stream.feed(audio[start : start + size]))
        start += size
    got.append(stream.flush())
    got = np.concatenate(got)
    assert got.shape == whole.shape
    # one window at a time (batch 1) against all windows at once: the products round differently and the LSTM
    # state carries it through ~300 windows: 1.7e-5 on the plain MLX path as on the fast paths, a sixth of the
    # tolerance against the reference (1e-4), which the whole clip meets
    assert np.abs(got - whole).max() < 3e-5
    assert np.array_equal(np.asarray(stream.probabilities, np.float32), got)


def test_result_contract(model, clips):
    result = model.detect(clips[16000])
    assert list(result) == result.segments and len(result) == 2 and result.sample_rate == 16000
    d = result.to_dict()
    assert d["segments"] == [{"start": a, "end": b} for a, b in result.segments]
    assert d["threshold"] == 0.5 and d["min_silence_duration_ms"] == 100 and d["speech_pad_ms"] == 30
    assert d["max_speech_duration_s"] is None and d["windows"] == len(result.probabilities)
    with pytest.raises(ValueError, match="8000, 16000|16000, 8000"):
        model.detect(clips[16000], 22050)


def test_safetensors_weights_match_the_reference_holding_them(tmp_path, clips):
    """The wheel's `silero_vad_16k.safetensors` is another 16 kHz checkpoint than the TorchScript model's; a folder
    of it alone loads it, and equals the TorchScript model with those weights put in."""
    import json
    import shutil

    src = mlx_audio_lab.hub.resolve("silero-vad")
    shutil.copy(src / "silero_vad_16k.safetensors", tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "silero_vad", "sample_rates": [16000]}))
    vad = mlx_audio_lab.load(tmp_path)
    assert vad.weight_files == {16000: "silero_vad_16k.safetensors"} and vad.sample_rates == [16000]
    want = reference.reference_probabilities(reference.load_reference(tmp_path), clips[16000], 16000)
    got = vad.probabilities(clips[16000])
    assert np.abs(got - want).max() < 1e-4
    jit = mlx_audio_lab.load("silero-vad").probabilities(clips[16000])
    assert np.abs(jit - got).max() > 0.05  # really a different checkpoint


def test_fixture_parity_every_layer():
    report = parity.run("silero_vad", weights="fixture")
    assert report.ok, report.table()
    assert "3 segments identical" in report.outputs_note and report.first_divergence is None


def test_cli_vad_json_and_bad_input(model, clips, tmp_path, capsys):
    import json

    from mlx_audio_lab.audio import save_audio
    from mlx_audio_lab.cli import main

    path = save_audio(tmp_path / "clip.wav", clips[16000], 16000)
    assert main(["vad", "--model", "silero-vad", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = model.detect(clips[16000])
    got = [x for s in out["segments"] for x in (s["start"], s["end"])]
    assert got == pytest.approx([x for span in want.segments for x in span], abs=1e-4) and len(got) == 4
    assert out["sample_rate"] == 16000 and out["threshold"] == 0.5 and out["speech_pad_ms"] == 30
    assert main(["vad", "--sample-rate", "22050", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error: --sample-rate 22050")
    assert main(["vad", str(tmp_path / "missing.wav")]) == 2
    assert "error:" in capsys.readouterr().err


def test_mlx_layout_round_trip(model, tmp_path):
    import helpers

    again = helpers.assert_round_trip(model, tmp_path)
    assert again.sample_rates == [16000, 8000]
