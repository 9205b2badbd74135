"""CSM port: every layer, teacher-forced logits per step, greedy and sampled codes identical to transformers'
CsmForConditionalGeneration on a fixture conversation (one spoken context turn); prompts; bf16 / 8 / 4-bit
agreement; speak -> codes -> decode."""

from __future__ import annotations

import json
import subprocess
import sys

import helpers
import numpy as np
import pytest

from mlx_audio_lab.fixtures import build
from mlx_audio_lab.models.tts.csm import reference as ref


@pytest.fixture(scope="module")
def folder():
    return build("csm")


@pytest.fixture(scope="module")
def runs(folder):
    """Both sides on the parity conversation, once: (report, MLX outputs, reference outputs)."""
    return helpers.reference_runs("csm", ref, folder)


def test_every_named_layer_within_default_tolerance(runs):
    report, _, _ = runs
    names = [r.name for r in report.layers]
    for part in ("backbone.layers.0", "backbone.layers.1", "backbone.logits", "depth.layers.0", "depth.layers.1",
                 "depth.logits", "codec.quantizer", "codec.upsample", "codec.decoder_transformer",
                 "codec.decoder.output"):
        assert part in names
    points = ref.tap_points(build("csm"))
    assert {(p.tol, p.rtol) for p in points} == {(1e-4, 1e-5)}  # the default tolerance everywhere
    assert not [r for r in report.layers if not r.ok], report.table()
    assert report.ok, report.table()


def test_teacher_forced_logits_every_step(runs):
    """Codebook-0 logits at every frame step and the depth decoder's at every (frame, codebook) step."""
    _, got, want = runs
    for key, tol in (("logits", 1e-4), ("depth_logits", 1e-4)):
        a, b = got[key], want[key]
        assert a.shape == b.shape
        per_step = np.abs(a - b).reshape(*a.shape[:-1], -1).max(axis=-1)  # (frames,) or (frames, codebooks - 1)
        limit = tol + 1e-5 * np.abs(b).max()
        assert per_step.max() <= limit, (key, np.argwhere(per_step > limit)[:5])
    assert want["logits"].shape[0] == 32 and want["depth_logits"].shape[1] == 7


def test_greedy_codes_identical_for_32_frames_and_varied(runs):
    _, got, want = runs
    assert want["codes"].shape == (8, 32)
    np.testing.assert_array_equal(got["codes"], want["codes"])
    assert len(np.unique(want["codes"][0])) > 8 and len(np.unique(want["codes"][:, 0])) > 4  # frames and codebooks


def test_sampled_codes_identical_for_the_same_draws(runs):
    _, got, want = runs
    np.testing.assert_array_equal(got["sampled_codes"], want["sampled_codes"])
    assert (want["sampled_codes"] != want["codes"]).mean() > 0.5  # sampling was on (not greedy in disguise)


def test_one_turn_prompt_is_the_chat_templates(folder):
    """Without a voice: speaker [0], no context, the processor's chat-template prompt (and its `[0]text` call)."""
    from transformers import CsmProcessor

    import mlx_audio_lab
    from mlx_audio_lab.models.tts.csm.generate import prompt_for

    inputs = ref.parity_inputs(folder, context=[])
    want = ref.processor_inputs(folder, inputs)["input_ids"][0].tolist()
    model = mlx_audio_lab.load(folder)
    got, ctx = prompt_for(model, ref.TEXT)
    assert got == want and ctx is None
    direct = CsmProcessor.from_pretrained(folder)(f"[0]{ref.TEXT}", add_special_tokens=True)["input_ids"][0]
    assert direct.tolist() == want


def test_bf16_and_quantized_agreement_with_fp32_is_reported(folder):
    from mlx_audio_lab.models.tts.csm.analysis import agreement_table, variant_agreement

    rows = {r["variant"]: r for r in variant_agreement(folder, max_frames=8)}
    assert set(rows) == {"bfloat16", "8-bit", "4-bit"}
    for name in ("bfloat16", "8-bit"):  # teacher-forced on fp32's codes: mostly the same top choice
        assert rows[name]["backbone_top1"] >= 0.8 and rows[name]["depth_top1"] >= 0.8, rows[name]
    assert rows["4-bit"]["depth_logits_max_abs"] > rows["8-bit"]["depth_logits_max_abs"]
    assert "4-bit" in agreement_table(list(rows.values()))


def cli(*args: str) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "mlx_audio_lab", *args], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return p


def test_speak_greedy_writes_codes_that_mimi_decodes(folder, tmp_path):
    import mlx_audio_lab
    from mlx_audio_lab.audio import load_audio
    from mlx_audio_lab.models.tts.csm import export_codec
    from mlx_audio_lab.models.tts.csm.generate import generate_codes, prompt_for

    out, codes_path = tmp_path / "out.wav", tmp_path / "codes.npy"
    cli("speak", "--model", str(folder), ref.TEXT, "--out", str(out), "--temperature", "0", "--max-frames", "12",
        "--codes-out", str(codes_path))
    codes = np.load(codes_path)
    model = mlx_audio_lab.load(folder)
    assert codes.shape == (8, 12) and np.issubdtype(codes.dtype, np.integer)
    np.testing.assert_array_equal(codes, generate_codes(model, *prompt_for(model, ref.TEXT), max_frames=12))
    mimi = export_codec(folder, tmp_path / "mimi")
    decoded = tmp_path / "decoded.wav"
    cli("decode", "--model", str(mimi), str(codes_path), "--out", str(decoded))
    assert json.loads((mimi / "config.json").read_text())["sampling_rate"] == 24000
    spoken, again = load_audio(out, 24000), load_audio(decoded, 24000)
    assert len(spoken) == len(again) == 12 * 1920
    np.testing.assert_allclose(spoken, again, atol=1e-4)  # streamed while speaking vs decoded at once


def test_speak_continues_a_voice_clip_as_the_reference_does(folder, tmp_path):
    """`speak --voice clip.wav --voice-text ...`: the clip is a context turn of speaker [0], whose voice then
    says the text; greedy codes equal transformers' generate on the same conversation."""
    import soundfile as sf

    said = ref.CONTEXT[0][1]
    inputs = ref.parity_inputs(folder, context=[(0, said, ref.CONTEXT[0][2])], speaker=0)
    _, want = ref.run_reference(folder, inputs, max_frames=12)
    clip, codes_path = tmp_path / "voice.wav", tmp_path / "codes.npy"
    sf.write(clip, inputs["context0.audio"], 24000, subtype="FLOAT")
    cli("speak", "--model", str(folder), ref.TEXT, "--voice", str(clip), "--voice-text", said, "--out",
        str(tmp_path / "out.wav"), "--temperature", "0", "--max-frames", "12", "--codes-out", str(codes_path))
    np.testing.assert_array_equal(np.load(codes_path), want["codes"][:, :12])
    p = subprocess.run([sys.executable, "-m", "mlx_audio_lab", "speak", "--model", str(folder), "hi", "--voice",
                        str(clip), "--out", str(tmp_path / "x.wav")], capture_output=True, text=True, timeout=600)
    assert p.returncode == 2 and "--voice-text" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("bits", [None, 8])
def test_mlx_layout_round_trip_gives_the_same_codes(folder, tmp_path, bits):
    import mlx_audio_lab
    from mlx_audio_lab.convert.save import save_model
    from mlx_audio_lab.models.tts.csm.generate import generate_codes, prompt_for

    model = mlx_audio_lab.load(folder, **({"quantize": bits} if bits else {}))
    again = mlx_audio_lab.load(save_model(model, tmp_path / "mlx"))
    assert again.quantization == model.quantization and again.sampling == model.sampling
    prompt, _ = prompt_for(again, ref.TEXT)
    np.testing.assert_array_equal(generate_codes(again, prompt, max_frames=12),
                                  generate_codes(model, prompt, max_frames=12))


def test_bad_voice_and_bad_checkpoint_are_reported(folder, tmp_path):
    import helpers

    import mlx_audio_lab

    model = mlx_audio_lab.load(folder)
    with pytest.raises(ValueError, match="speaker id"):
        next(model.generate("hi", voice="alice"))
    message = helpers.checkpoint_error(folder, tmp_path, lambda s: s.pop("lm_head.weight"))
    assert "missing (1): lm_head.weight" in message


def test_backbone_attention_equals_transformers_eager_attentions(folder):
    import torch

    import mlx_audio_lab
    from mlx_audio_lab.models.tts.csm.analysis import backbone_attention
    from mlx_audio_lab.models.tts.csm.generate import generate_codes, prompt_for

    model = mlx_audio_lab.load(folder)
    prompt, _ = prompt_for(model, ref.TEXT)
    codes = generate_codes(model, prompt, max_frames=8)
    reference = ref.load_reference(folder)
    with torch.no_grad():
        x = torch.cat([reference.embed_text_tokens(torch.tensor([prompt])),
                       reference.backbone_model.embed_tokens(torch.from_numpy(codes.T[None, :-1]))], dim=1)
        want = reference.backbone_model(inputs_embeds=x, output_attentions=True).attentions
    for layer in range(len(want)):
        got = backbone_attention(model, prompt, codes, layer=layer)
        np.testing.assert_allclose(got.weights, want[layer][0].numpy(), atol=1e-5)
    assert got.prompt_length == len(prompt) and got.weights.shape[-1] == len(prompt) + 7


def test_trace_fills_the_grid_with_the_sampled_codes(folder):
    import mlx_audio_lab
    from mlx_audio_lab.generation import SamplingConfig, SeededDraws
    from mlx_audio_lab.inspect.generation import sampling_trace
    from mlx_audio_lab.models.tts.csm.generate import generate_codes, prompt_for, sampler, traced_steps

    model = mlx_audio_lab.load(folder)
    steps = traced_steps(model, ref.TEXT, max_frames=5, top_k=20, top_p=0.9, seed=3)
    trace = sampling_trace(steps, 8, lambda i, code: (i % 8, i // 8, code))
    config = SamplingConfig(temperature=0.9, top_k=20, top_p=0.9)
    codes = generate_codes(model, prompt_for(model, ref.TEXT)[0], max_frames=5, pick=sampler(config, config,
                                                                                          SeededDraws(3)))
    np.testing.assert_array_equal(trace.grid, codes)
    assert [c.stage for c in trace.steps[0].stages] == ["raw", "temperature", "top_k", "top_p"]
    assert len(trace.steps) == codes.size and trace.steps[-1].stages[-1].kept <= 20


@pytest.mark.slow
def test_benchmark_script_runs_at_a_tiny_size():
    """benchmarks/models/csm.py end to end with 64-wide transformers (the real size is for benchmark machines)."""
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root holds benchmarks/
    from benchmarks import harness
    from benchmarks.models import csm as bench

    payload = bench.run(harness.Context(repeats=1, warmup=0, options={"tiny": "1", "frames": "3"}))
    assert set(payload["summary"]) == {"mlx_audio_lab", "torch"}
    assert payload["per_engine"]["mlx_audio_lab"]["codes_agree_with_torch"] == 1.0
    assert payload["summary"]["mlx_audio_lab"]["tokens_per_s"] > 0 and payload["layers"]["reduced"]
