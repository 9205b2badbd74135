"""OuteTTS 1.0 port: the prompt builder against the `outetts` package token for token (shipped speaker
profile), parity with transformers' Llama (layers, teacher-forced logits, greedy and sampled tokens under the
package's windowed repetition penalty), c1/c2 extraction, and `speak` / `decode` on the fixture."""

from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pytest

from mlx_audio_lab import parity
from mlx_audio_lab.fixtures import build
from mlx_audio_lab.models.tts.outetts import reference as ref
from mlx_audio_lab.models.tts.outetts.prompt import completion_prompt

# the prompt side of the reference (installed --no-deps, see .ci/setup; its __init__ needs more, so not imported)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("outetts") is None, reason="outetts is not installed")

TEXTS = ["The harbor lights flickered.", "  “Quoted” text — with…  dashes,and  spaces !!  can 't stop ",
         "日本語のテキストです。", "No final stop"]


@pytest.fixture(scope="module")
def folder():
    return build("outetts")


@pytest.fixture(scope="module")
def model(folder):
    from mlx_audio_lab import load

    return load(folder)


@pytest.fixture(scope="module")
def short_speaker(tmp_path_factory):
    """The shipped profile cut to its first three words (a shorter prompt keeps the runs fast), as a JSON file."""
    import json

    speaker = ref.shipped_speaker()
    speaker.update(text="The cat watched", words=speaker["words"][:3])
    path = tmp_path_factory.mktemp("speaker") / "short.json"
    path.write_text(json.dumps(speaker))
    return path


@pytest.fixture(scope="module")
def processor(folder):
    return ref.outetts_module("version.v3.prompt_processor").PromptProcessor(str(folder))


@pytest.mark.slow  # two reference generate runs over a ~2000-token prompt + DAC decode: ~2 min on a shared CPU
def test_parity_every_layer_and_generation_check():
    report = parity.run("outetts", weights=build("outetts"))
    names = [r.name for r in report.layers]
    assert names[:2] == ["embed_tokens", "layers.0"] and "logits" in names
    for check in ("prompt.tokens", "generation.teacher_forced_logits", "generation.greedy_tokens",
                  "generation.greedy_codes", "generation.sampled_tokens", "dac.audio"):
        assert check in names
    assert report.ok, report.table()
    rows = {r.name: r for r in report.layers}
    assert rows["generation.greedy_codes"].shape == [2, 40] and rows["generation.sampled_tokens"].shape == [1, 80]
    for name in ("bf16", "8bit", "4bit"):  # lower precisions vs fp32: reported, not asserted equal
        a = report.extras[f"greedy_agreement_{name}"]
        assert 0.0 <= a["equal_fraction"] <= 1.0 and "first_divergence" in a


def test_prompt_string_and_ids_equal_the_package(model, processor):
    speaker = ref.shipped_speaker()
    short = {**copy.deepcopy(speaker), "text": "The cat watched", "words": copy.deepcopy(speaker["words"][:3])}
    for text in TEXTS:
        for profile in (speaker, short, None):
            want = processor.get_completion_prompt(text, copy.deepcopy(profile) if profile else None)
            assert completion_prompt(text, profile) == want
            ids = processor.tokenizer.encode(want, add_special_tokens=False)
            assert model.prompt_ids(text, profile) == ids
    assert speaker == ref.shipped_speaker()  # the builder leaves the profile as it was
    ids = model.prompt_ids(TEXTS[0], "en-female-1-neutral")
    assert ids[-1] == model.tokenizer.token_to_id("<|word_start|>") and len(ids) > 1500  # 759 frames of profile


def test_windowed_repetition_penalty_equals_the_package(model):
    import mlx.core as mx
    import torch

    from mlx_audio_lab.generation import SamplingConfig, process

    history = np.random.default_rng(0).integers(0, 400, size=(1, 300))
    logits = np.random.default_rng(1).normal(size=(1, 400)).astype(np.float32)
    import transformers.generation.utils as gen_utils

    before = gen_utils.RepetitionPenaltyLogitsProcessor
    patch = ref.package_penalty_processor()(1.1)
    assert gen_utils.RepetitionPenaltyLogitsProcessor is before  # transformers is left alone for other tests
    want = patch(torch.from_numpy(history), torch.from_numpy(logits.copy())).numpy()
    config = SamplingConfig(0.0, repetition_penalty=1.1, repetition_window=64)
    got = np.array(process(mx.array(logits), config, config.penalized(history)))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    whole = np.array(process(mx.array(logits), SamplingConfig(0.0, repetition_penalty=1.1), history))
    assert not np.allclose(whole, want)  # the window matters on this history


def test_greedy_walks_varied_codes_and_extraction_matches_the_package(folder, model, processor, short_speaker):
    from mlx_audio_lab.generation import RecordedDraws, SamplingConfig
    from mlx_audio_lab.models.tts.outetts.generate import generate_tokens

    prompt = model.prompt_ids(ref.PARITY_TEXT, short_speaker)
    greedy = [s.token for s in generate_tokens(model, prompt, SamplingConfig(0.0), None, 24)]
    codes = model.audio_tokens.codes(greedy)
    assert codes.shape == (2, 24) and all(len(np.unique(row)) > 20 for row in codes)
    np.testing.assert_array_equal(codes, processor.extract_audio_from_tokens(greedy))
    sampled = [s.token for s in generate_tokens(model, prompt, ref.PARITY_SAMPLING,
                                                RecordedDraws(np.random.default_rng(0).random(48)), 24)]
    assert sampled != greedy
    marked = model.tokenizer.encode("<|word_start|>hi<|features|><|t_0.20|><|code|><|c1_5|><|c2_7|><|c1_9|>"
                                    "<|word_end|>", add_special_tokens=False).ids
    np.testing.assert_array_equal(model.audio_tokens.codes(marked), processor.extract_audio_from_tokens(marked))
    np.testing.assert_array_equal(model.audio_tokens.codes(model.audio_tokens.tokens(codes)), codes)


def test_registry_tells_outetts_from_orpheus(folder):
    from mlx_audio_lab.registry import detect

    assert detect(folder).model_type == "outetts"
    assert detect(build("orpheus")).model_type == "orpheus"  # both configs say model_type "llama"


def test_speak_and_decode_cli(folder, tmp_path, short_speaker, capsys):
    import soundfile as sf

    from mlx_audio_lab.cli import main

    out, codes = tmp_path / "out.wav", tmp_path / "codes.npy"
    args = ["speak", "--model", str(folder), "--voice", str(short_speaker), "--temperature", "0",
            "--max-frames", "20", "--codes-out", str(codes), "--out", str(out), "Hi there."]
    assert main(args) == 0
    grid = np.load(codes)
    assert grid.shape == (2, 20) and np.issubdtype(grid.dtype, np.integer) and len(np.unique(grid[0])) > 10
    audio, rate = sf.read(out)
    assert rate == 24000 and abs(len(audio) - 20 * 320) < 320  # hop 320 (DAC's edge convs trim a few samples)
    assert main(["decode", "--model", str(folder / "dac"), "--out", str(tmp_path / "d.wav"), str(codes)]) == 0
    decoded, _ = sf.read(tmp_path / "d.wav")
    np.testing.assert_allclose(decoded, audio, atol=1e-4)  # the same codes, the same DAC
    out.unlink()
    assert main(["speak", "--model", str(folder), "--voice", "nobody", "--out", str(out), "x"]) == 2
    assert "neither a speaker JSON" in capsys.readouterr().err and not out.exists()
