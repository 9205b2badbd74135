"""Spark-TTS port: BiCodec stage by stage against spark_tts_lib (tokens identical), prompts of both forms
against SparkTTS's builders token for token, Qwen2 greedy / sampled tokens, voice cloning from an espeak-ng
clip end to end, the key maps on other checkpoint layouts, and `speak` with a voice or style labels."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from mlx_audio_lab.fixtures import build
from mlx_audio_lab.fixtures.speech import espeak_available

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("spark_tts_lib") is None, reason="spark-tts-lib is not installed"),
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (the voice to clone)"),
]


@pytest.fixture(scope="module")
def folder():
    return build("spark")


@pytest.fixture(scope="module")
def model(folder):
    from mlx_audio_lab import load

    return load(folder)


@pytest.fixture(scope="module")
def spark(folder):
    from mlx_audio_lab.models.tts.spark import reference as ref

    return ref.load_reference(folder)


@pytest.fixture(scope="module")
def clip_tokens(spark):
    """The reference's (global, semantic) tokens of the clip; its prompt builders reuse them (one tokenization)."""
    from mlx_audio_lab.models.tts.spark import reference as ref

    tokens = spark.audio_tokenizer.tokenize(ref.clip_path())
    spark.audio_tokenizer.tokenize = lambda path: tokens  # same clip every time in this module
    return tokens


@pytest.mark.slow  # the whole report (two reference loads, four generation runs): ~1.5 min on a shared CPU
def test_parity_report_every_stage_and_generation_check():
    from mlx_audio_lab import parity

    report = parity.run("spark", weights=build("spark"))
    names = [r.name for r in report.layers]
    for check in ("mel", "speaker_encoder.ecapa", "decoder.output", "layers.1", "generation.sampled_tokens",
                  "bicodec.global_tokens", "bicodec.audio", "bicodec.control_audio"):
        assert check in names
    assert report.ok, report.table()


def test_bicodec_stages_and_tokens_equal_spark_tts_lib(folder, model, spark):
    import mlx.core as mx

    from mlx_audio_lab.models.tts.spark import reference as ref
    from mlx_audio_lab.models.tts.spark.audio import load_reference
    from mlx_audio_lab.parity import compare
    from mlx_audio_lab.taps import capture

    ref_acts, ref_out = ref._codec_reference(spark, folder)
    wav = load_reference(ref.clip_path(), model.codec.config)
    np.testing.assert_array_equal(wav, spark.audio_tokenizer.process_audio(ref.clip_path())[0].astype(np.float32))
    with capture() as acts:
        g, s = model.codec.tokenize(wav)
        audio = model.codec.detokenize(g, s)
    points = ref.tap_points(folder)[: len(ref.CODEC_POINTS) + len(ref.wave_points(folder))]
    report = compare("spark", points, {k: np.array(v.astype(mx.float32)) for k, v in acts.items()}, ref_acts, True)
    assert report.ok, report.table()
    np.testing.assert_array_equal(np.array(s), ref_out["semantic_tokens"])
    np.testing.assert_array_equal(np.array(g), ref_out["global_tokens"])
    assert len(np.unique(np.array(s))) > 20 and len(np.unique(np.array(g))) > 16  # speech uses many codes
    np.testing.assert_allclose(np.array(audio), ref_out["codec_audio"], atol=1e-5)


def test_prompts_equal_sparktts_token_for_token(model, spark, clip_tokens):
    from mlx_audio_lab.models.tts.spark import reference as ref
    from mlx_audio_lab.models.tts.spark.prompt import clone_prompt, control_prompt

    want, global_ids = spark.process_prompt(ref.PARITY_TEXT, ref.clip_path())
    g, s = clip_tokens
    assert clone_prompt(ref.PARITY_TEXT, global_ids.numpy()) == want
    with_text, _ = spark.process_prompt(ref.PARITY_TEXT, ref.clip_path(), prompt_text="The harbor lights.")
    assert clone_prompt(ref.PARITY_TEXT, g.numpy(), s.numpy(), "The harbor lights.") == with_text
    ids = model.prompt_ids(ref.PARITY_TEXT, ref.clip_path())
    assert ids == spark.tokenizer([want]).input_ids[0]
    for gender, pitch, speed in (("female", "high", "moderate"), ("male", "very_low", "very_high")):
        text = spark.process_prompt_control(gender, pitch, speed, "Hello there.")
        assert control_prompt("Hello there.", gender, pitch, speed) == text
        assert model.prompt_ids("Hello there.", gender=gender, pitch=pitch, speed=speed) == \
            spark.tokenizer([text]).input_ids[0]
    with pytest.raises(ValueError, match="pitch must be one of"):
        control_prompt("x", "female", "shrill")


def test_greedy_and_sampled_tokens_equal_qwen2(model, spark, clip_tokens):
    from mlx_audio_lab.generation import RecordedDraws, SamplingConfig, SeededDraws
    from mlx_audio_lab.models.tts.spark import reference as ref
    from mlx_audio_lab.models.tts.spark.generate import generate_tokens

    prompt, global_ids, _ = ref.reference_prompts(spark)
    n = ref.PARITY_TOKENS
    draws = SeededDraws(0).next(n)
    want_greedy = ref._generate(spark, prompt, SamplingConfig(0.0), None)
    want_sampled = ref._generate(spark, prompt, ref.PARITY_SAMPLING, RecordedDraws(draws))
    ids = prompt[0].tolist()
    greedy = [s.token for s in generate_tokens(model, ids, SamplingConfig(0.0), None, n)]
    sampled = [s.token for s in generate_tokens(model, ids, ref.PARITY_SAMPLING, RecordedDraws(draws), n)]
    np.testing.assert_array_equal(greedy, want_greedy[0])
    np.testing.assert_array_equal(sampled, want_sampled[0])
    assert sampled != greedy and len(set(greedy)) > 48  # the designed fixture writes varied tokens


def test_voice_cloning_end_to_end_equals_the_reference_pipeline(model, spark, clip_tokens):
    from mlx_audio_lab.generation import SamplingConfig
    from mlx_audio_lab.models.tts.spark import reference as ref

    prompt, global_ids, _ = ref.reference_prompts(spark)
    want_audio, want_g, want_s = ref.reference_audio(spark, ref._generate(spark, prompt, SamplingConfig(0.0), None),
                                                     global_ids)
    result = next(model.generate(ref.PARITY_TEXT, voice=ref.clip_path(), temperature=0, max_frames=ref.PARITY_TOKENS))
    np.testing.assert_array_equal(result.extras["codes"], want_s)
    np.testing.assert_array_equal(result.extras["global_tokens"], want_g)
    assert result.sample_rate == 16000 and result.audio.shape == (32 * 320,)
    np.testing.assert_allclose(result.audio, want_audio[0], atol=1e-5)


def test_key_maps_take_weight_g_v_and_a_pretraining_wav2vec2(folder, model):
    from mlx.utils import tree_flatten
    from safetensors.numpy import load_file

    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.models.tts.spark.bicodec import BiCodec
    from mlx_audio_lab.models.tts.spark.config import BiCodecConfig
    from mlx_audio_lab.models.tts.spark.convert import WAV2VEC2, bicodec_keymap, prepare_bicodec, prepare_wav2vec2

    state = load_file(str(folder / "BiCodec" / "model.safetensors"))
    old = {k.replace("parametrizations.weight.original0", "weight_g").replace(
        "parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
    assert any(k.endswith("weight_g") for k in old)
    other = fill_model(BiCodec(BiCodecConfig.from_folder(folder)), prepare_bicodec(old), bicodec_keymap(4), {}, "old")
    want = dict(tree_flatten(model.codec.parameters()))
    for k, v in tree_flatten(other.parameters()):
        np.testing.assert_array_equal(np.array(v), np.array(want[k]))
    w2v = load_file(str(folder / "wav2vec2-large-xlsr-53" / "model.safetensors"))
    pretraining = {f"wav2vec2.{k}": v for k, v in w2v.items()}
    pretraining["quantizer.codevectors"] = np.zeros((1, 4, 2), np.float32)
    pretraining["project_q.weight"] = np.zeros((2, 2), np.float32)
    mapped = set(WAV2VEC2.map_key(k)[0] or "" for k in prepare_wav2vec2(pretraining))
    assert mapped == set(WAV2VEC2.map_key(k)[0] or "" for k in prepare_wav2vec2(w2v))


def test_registry_detects_the_spark_layout(folder):
    from mlx_audio_lab.registry import detect

    assert detect(folder).model_type == "spark"


def test_speak_with_a_voice_or_style_labels_and_errors(folder, tmp_path, capsys):
    import soundfile as sf

    from mlx_audio_lab.cli import main
    from mlx_audio_lab.models.tts.spark import reference as ref

    out, codes = tmp_path / "out.wav", tmp_path / "codes.npy"
    args = ["speak", "--model", str(folder), "--voice", str(ref.clip_path()), "--temperature", "0", "--seed", "0",
            "--max-frames", "40", "--codes-out", str(codes), "--out", str(out), "Hi there."]
    assert main(args) == 0
    grid = np.load(codes)
    audio, rate = sf.read(out)
    assert rate == 16000 and grid.shape == (1, 20) and len(audio) == 20 * 320 and len(np.unique(grid)) > 15
    created = tmp_path / "created.wav"
    assert main(["speak", "--model", str(folder), "--gender", "female", "--pitch", "high", "--speed", "moderate",
                 "--temperature", "0", "--max-frames", "64", "--out", str(created), "Hi there."]) == 0
    assert sf.read(created)[1] == 16000
    bad = tmp_path / "bad.wav"
    assert main(["speak", "--model", str(folder), "--out", str(bad), "x"]) == 2
    assert "needs a reference voice clip" in capsys.readouterr().err and not bad.exists()
    assert main(["speak", "--model", str(folder), "--voice", str(tmp_path / "none.wav"), "--out", str(bad), "x"]) == 2
    assert "reference clip not found" in capsys.readouterr().err
    assert main(["speak", "--model", str(folder), "--gender", "female", "--speed", "1.5", "--out", str(bad), "x"]) == 2
    assert "speed level" in capsys.readouterr().err
    assert main(["speak", "--model", str(folder), "--gender", "female", "--max-frames", "4", "--temperature", "0",
                 "--out", str(bad), "x"]) == 2
    assert "global tokens" in capsys.readouterr().err and not bad.exists()
    with pytest.raises(SystemExit) as e:
        main(["speak", "--model", str(folder), "--pitch", "shrill", "--out", str(bad), "x"])
    assert e.value.code == 2


def test_style_labels_are_refused_by_models_without_them(tmp_path, capsys):
    from mlx_audio_lab.cli import main

    bad = tmp_path / "bad.wav"
    assert main(["speak", "--model", str(build("outetts")), "--gender", "male", "--out", str(bad), "x"]) == 2
    assert "no gender / pitch / speed-level controls" in capsys.readouterr().err and not bad.exists()


@pytest.mark.parametrize("up, down", [(2, 1), (1, 2), (3, 1), (1, 3), (1, 1)])
def test_sampling_blocks_equal_spark_tts_lib(up, down):
    """BiCodec's sampling block (the real config uses ratios 1; other ratios re-time the latents), key-mapped."""
    import mlx.core as mx
    import torch
    from spark_tts_lib.modules.blocks.samper import SamplingBlock as TorchBlock

    from mlx_audio_lab.convert.keymap import apply_keymap
    from mlx_audio_lab.fixtures import randomize_
    from mlx_audio_lab.models.tts.spark.bicodec.vocos import SamplingBlock
    from mlx_audio_lab.models.tts.spark.convert import bicodec_keymap

    torch.manual_seed(0)
    ref = TorchBlock(8, groups=8, upsample_scale=up, downsample_scale=down).eval()
    randomize_(ref, seed=0, std=0.3)
    x = torch.randn(1, 12, 8)  # (B, T, C): the block takes time-major input and returns (B, C, T')
    with torch.no_grad():
        want = ref(x).numpy()
    port = SamplingBlock(8, up, down)
    state = {f"encoder.downsample.0.0.{k}": v.numpy() for k, v in ref.state_dict().items()}
    weights = apply_keymap(state, bicodec_keymap(4))
    port.load_weights([(k.removeprefix("encoder.downsample.0.0."), mx.array(v)) for k, v in weights.items()])
    got = np.array(port(mx.array(x.numpy())))
    np.testing.assert_allclose(got, want.transpose(0, 2, 1), atol=1e-5)
