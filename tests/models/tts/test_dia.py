"""Dia port: every layer, teacher-forced logits per step, guided (CFG) logits, greedy (plain and guided) and
sampled codes identical to transformers' DiaForConditionalGeneration on a fixture dialogue; the delay pattern,
tokenizer, EOS processors and audio prompts equal to the reference's; speak -> codes -> decode."""

from __future__ import annotations

import subprocess
import sys

import helpers
import numpy as np
import pytest

from mlx_audio_lab.fixtures import build
from mlx_audio_lab.models.tts.dia import delay
from mlx_audio_lab.models.tts.dia import reference as ref

DELAYS = [0, 8, 9, 10, 11, 12, 13, 14, 15]
BOS, PAD, EOS = 1026, 1025, 1024


@pytest.fixture(scope="module")
def folder():
    return build("dia")


@pytest.fixture(scope="module")
def model(folder):
    import mlx_audio_lab

    return mlx_audio_lab.load(folder)


@pytest.fixture(scope="module")
def runs(folder):
    """Both sides on the parity dialogue, once: (report, MLX outputs, reference outputs)."""
    return helpers.reference_runs("dia", ref, folder)


def test_every_named_layer_within_default_tolerance(runs, folder):
    report, _, _ = runs
    names = [r.name for r in report.layers]
    for part in ("encoder.layers.1", "encoder.norm", "decoder.embeddings", "decoder.layers.0", "decoder.layers.1",
                 "decoder.norm", "logits", "generation.guided_logits", "generation.sampled_codes"):
        assert part in names
    assert {(p.tol, p.rtol) for p in ref.tap_points(folder)} == {(1e-4, 1e-5)}  # the default everywhere
    assert not [r for r in report.layers if not r.ok], report.table()
    assert report.ok, report.table()


def test_teacher_forced_logits_every_step(runs):
    _, got, want = runs
    a, b = got["logits"], want["logits"]  # (steps, channels, vocab)
    assert a.shape == b.shape == (40, 9, 1028)
    per_step = np.abs(a - b).max(axis=(1, 2))
    assert per_step.max() <= 1e-4 + 1e-5 * np.abs(b).max(), np.argmax(per_step)


def test_guided_logits_equal_transformers_cfg_processor(runs):
    """cond + 3 (cond - uncond), then the conditional logits on the guided top 45 (-inf elsewhere), every step."""
    _, got, want = runs
    a, b = got["guided_logits"], want["guided_logits"]
    np.testing.assert_array_equal(np.isinf(a), np.isinf(b))
    assert (np.isfinite(b).sum(-1) == 45).all()
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], atol=1e-4)


def test_greedy_codes_identical_plain_and_guided_and_varied(runs):
    _, got, want = runs
    for key in ("sequence", "guided_sequence"):
        assert want[key].shape == (41, 9)
        np.testing.assert_array_equal(got[key], want[key])
        codes = delay.revert(want[key], DELAYS, BOS, PAD)
        assert codes.shape[0] == 9 and codes.shape[1] <= ref.FRAMES
        assert all(len(np.unique(row)) > 3 for row in codes)  # every channel varies across frames
    assert (want["sequence"] != want["guided_sequence"]).mean() > 0.3  # guidance changes the codes


def test_sampled_codes_identical_for_the_same_draws(runs):
    _, got, want = runs
    np.testing.assert_array_equal(got["sampled_sequence"], want["sampled_sequence"])
    assert (want["sampled_sequence"] != want["guided_sequence"]).mean() > 0.3  # sampling was on


def test_delay_pattern_apply_and_revert_equal_the_processors():
    import torch
    from transformers import DiaProcessor

    rng = np.random.default_rng(0)
    for T in (1, 5, 16, 40):
        frames = rng.integers(0, 1024, size=(T, 9))
        for revert in (False, True):
            idx = DiaProcessor.build_indices(1, T, 9, DELAYS, revert=revert)
            want = DiaProcessor.apply_audio_delay(torch.from_numpy(frames)[None], PAD, BOS, idx)[0].numpy()
            np.testing.assert_array_equal(delay.shift(frames, DELAYS, BOS, PAD, revert=revert), want)
    shifted = delay.shift(rng.integers(0, 1024, size=(30, 9)), DELAYS, BOS, PAD)
    assert (shifted[:8, 1] == BOS).all() and (shifted[8:, 1] < 1024).all()  # channel 1 starts 8 frames late


def test_reverted_codes_are_the_processors_decode_cut(runs):
    """`DiaProcessor.batch_decode`'s frames (BOS frames and EOS/PAD tail dropped) decode to the same audio."""
    import torch
    from transformers import DiaProcessor

    _, _, want = runs
    processor = DiaProcessor.from_pretrained(build("dia"))
    seq = want["guided_sequence"]
    audio = processor.batch_decode(torch.from_numpy(seq)[None])[0].numpy()
    from mlx_audio_lab.models.codecs.dac.load import load_model as load_dac

    codes = delay.revert(seq, DELAYS, BOS, PAD)
    ours = load_dac(build("dac", "tiny-44khz")).decode(codes)
    assert codes.shape[1] == ref.FRAMES and len(ours) == len(audio) > (codes.shape[1] - 1) * 320
    np.testing.assert_allclose(ours, audio, atol=1e-4)


@pytest.fixture(scope="module")
def eos_folder(folder, tmp_path_factory):
    """The fixture with channel 0's EOS head row doubled, so generation ends by itself before the frame limit."""
    import shutil

    from safetensors.numpy import load_file, save_file

    out = tmp_path_factory.mktemp("dia-eos") / "dia"
    shutil.copytree(folder, out)
    state = load_file(str(out / "model.safetensors"))
    state["logits_dense.weight"][EOS] *= 2.0  # row EOS of channel 0 (channel c's rows start at c * 1028)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


@pytest.mark.parametrize("setting", [pytest.param("guided_greedy", marks=pytest.mark.slow), "sampled"])
def test_generation_that_ends_by_itself_matches_the_reference(eos_folder, setting):
    """Channel 0 picks EOS, each later channel is forced to EOS delay[c] steps after, then generation stops."""
    from mlx_audio_lab.generation import SeededDraws
    from mlx_audio_lab.models.tts.dia import generate as G
    from mlx_audio_lab.models.tts.dia import tokenizer
    from mlx_audio_lab.models.tts.dia.load import load_model

    config = {"guided_greedy": ref.GUIDED_GREEDY, "sampled": ref.SAMPLED}[setting]
    reference, processor = ref.load_reference(eos_folder)
    want = ref.reference_generate(reference, ref.processor_inputs(processor, ref.TEXT), config, 80, ref.SEED)
    got = G.generate_sequence(load_model(eos_folder), tokenizer.encode(ref.TEXT), config,
                              None if config.greedy else SeededDraws(ref.SEED), 80)
    np.testing.assert_array_equal(got, want)
    end = int(np.flatnonzero(want[:, 0] == EOS)[0])
    assert 10 < end and len(want) == end + max(DELAYS) + 1 < 81  # stopped early, after the delay tail
    assert [int(np.flatnonzero(want[:, c] == EOS)[0]) - end for c in range(9)] == DELAYS
    assert delay.revert(want, DELAYS, BOS, PAD).shape == (9, end - 1)


def test_tokenizer_is_dias(folder):
    from transformers import DiaTokenizer

    from mlx_audio_lab.models.tts.dia import tokenizer

    tok = DiaTokenizer.from_pretrained(folder)
    for text in ("[S1] Hello. [S2] Hi! (laughs)", "[S1][S2]x", "café (coughs) [S1]  ünïcode", "<pad>[S3] [s1]"):
        assert tokenizer.encode(text) == tok(text, add_special_tokens=False)["input_ids"], text


def test_eos_processors_equal_transformers():
    import mlx.core as mx
    import torch
    from transformers.generation.logits_process import (
        DiaEOSChannelFilterLogitsProcessor,
        DiaEOSDelayPatternLogitsProcessor,
    )

    from mlx_audio_lab.models.tts.dia.generate import EosDelay, eos_channel_filter

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(9, 1028)).astype(np.float32)
    logits[0, EOS] = 9.0  # channel 0 ends: EOS is its top logit
    logits[3, EOS] = 9.0  # a later channel may not end by itself
    want = DiaEOSChannelFilterLogitsProcessor(9, EOS)(None, torch.from_numpy(logits.copy())).numpy()
    got = np.array(eos_channel_filter(mx.array(logits), EOS))
    np.testing.assert_array_equal(got, want)
    theirs, ours = DiaEOSDelayPatternLogitsProcessor(DELAYS, EOS, 100), EosDelay(DELAYS, EOS, 100)
    for step in range(18):  # channel c is forced to EOS delay[c] steps after channel 0 ended
        x = want if step == 0 else rng.normal(size=(9, 1028)).astype(np.float32)
        a = theirs(torch.zeros(9, 10 + step, dtype=torch.long), torch.from_numpy(x.copy())).numpy()
        np.testing.assert_array_equal(np.array(ours(mx.array(x), 10 + step)), a)


def test_audio_prompt_continues_like_the_reference(folder, model):
    """A clip as the prompt: the processor's delayed prefill and the guided greedy continuation."""
    import torch
    from transformers import DiaForConditionalGeneration, DiaProcessor

    from mlx_audio_lab.generation import SamplingConfig
    from mlx_audio_lab.models.tts.dia import generate as G
    from mlx_audio_lab.models.tts.dia import tokenizer
    from mlx_audio_lab.parity.inputs import spoken_or_noise

    clip = spoken_or_noise("fox", 44100)[: 44100 // 4]  # 0.25 s: 35 frames of the hop-320 fixture codec
    processor = DiaProcessor.from_pretrained(folder)
    text = "[S1] The quick brown fox. [S2] Jumps."
    batch = ref.processor_inputs(processor, text, clip)
    prompt = G.prompt_codes(model, clip)
    np.testing.assert_array_equal(delay.prefill(DELAYS, BOS, PAD, prompt), batch["decoder_input_ids"][0].numpy())
    reference = DiaForConditionalGeneration.from_pretrained(folder).eval()
    config = SamplingConfig(temperature=0.0, top_k=45, cfg_scale=3.0)
    with torch.no_grad():
        want = reference.generate(**batch, max_new_tokens=24, **ref.hf_kwargs(config))[0].numpy()
    got = G.generate_sequence(model, tokenizer.encode(text), config, None, 24, prompt)
    np.testing.assert_array_equal(got, want)
    assert want.shape[0] == 1 + prompt.shape[1] + 24


def test_mlx_layout_round_trip_gives_the_same_codes(model, tmp_path):
    import mlx_audio_lab
    from mlx_audio_lab.convert.save import save_model

    again = mlx_audio_lab.load(save_model(model, tmp_path / "mlx"))
    assert again.generation == model.generation and (tmp_path / "mlx" / "codec" / "config.json").is_file()
    a, b = (next(m.generate("[S1] hi [S2] ho", temperature=0, max_frames=8)) for m in (model, again))
    np.testing.assert_array_equal(a.extras["codes"], b.extras["codes"])
    np.testing.assert_array_equal(a.audio, b.audio)


def cli(*args: str, code: int = 0) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "mlx_audio_lab", *args], capture_output=True, text=True, timeout=600)
    assert p.returncode == code, p.stderr
    return p


def test_speak_writes_reverted_codes_that_the_dac_decodes(folder, model, tmp_path):
    from mlx_audio_lab.audio import load_audio

    out, codes_path, decoded = tmp_path / "out.wav", tmp_path / "codes.npy", tmp_path / "decoded.wav"
    text = "[S1] hello [S2] hi"
    cli("speak", "--model", str(folder), text, "--out", str(out), "--temperature", "0", "--seed", "0",
        "--max-frames", "12", "--codes-out", str(codes_path), "--cfg-scale", "2")
    codes = np.load(codes_path)
    result = next(model.generate(text, temperature=0, max_frames=12, cfg_scale=2.0))
    assert codes.shape == (9, 12) and np.issubdtype(codes.dtype, np.integer)
    np.testing.assert_array_equal(codes, result.extras["codes"])
    cli("decode", "--model", str(build("dac", "tiny-44khz")), str(codes_path), "--out", str(decoded))
    spoken, again = load_audio(out, 44100), load_audio(decoded, 44100)
    assert len(spoken) == len(again) > 11 * 320
    np.testing.assert_allclose(spoken, again, atol=1e-4)


def test_bad_input_is_reported(folder, tmp_path, capsys):
    from mlx_audio_lab.cli import main

    out = str(tmp_path / "o.wav")
    for args, message in (((str(folder), "[S1] hi", "--cfg-scale", "0.5"), "error: --cfg-scale must be >= 1"),
                          ((str(folder), " "), "empty text: give a dialogue"),
                          ((str(build("csm")), "hi", "--cfg-scale", "2"), "Csm has no classifier-free guidance")):
        assert main(["speak", "--model", args[0], args[1], "--out", out, *args[2:]]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


@pytest.mark.slow
def test_benchmark_script_runs_at_a_tiny_size():
    """benchmarks/models/dia.py end to end with the fixture's sizes (the real size is for benchmark machines)."""
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root holds benchmarks/
    from benchmarks import harness
    from benchmarks.models import dia as bench

    payload = bench.run(harness.Context(repeats=1, warmup=0, options={"tiny": "1", "frames": "3"}))
    assert set(payload["summary"]) == {"mlx_audio_lab", "torch"}
    assert payload["per_engine"]["mlx_audio_lab"]["codes_agree_with_torch"] == 1.0
    assert payload["layers"]["reduced"]
