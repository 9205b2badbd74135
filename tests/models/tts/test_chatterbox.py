"""Chatterbox: every component against `chatterbox-tts` on the fixture (VoiceEncoder, CAMPPlus, T3, the flow,
HiFT), greedy and sampled speech tokens identical, the key map placing every conformer weight, HiFT's final
leaky-ReLU slope caught by parity, the Euler trajectory, end to end and the `speak` CLI."""

from __future__ import annotations

import helpers
import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab import parity
from mlx_audio_lab.convert.keymap import CheckpointError
from mlx_audio_lab.generation import SamplingConfig, SeededDraws
from mlx_audio_lab.models.tts.chatterbox import reference as R
from mlx_audio_lab.models.tts.chatterbox.generate import speech_tokens
from mlx_audio_lab.parity.core import compare
from mlx_audio_lab.taps import capture

folder, model, reference = helpers.fixture_trio("chatterbox")


@pytest.fixture(scope="module")
def report(folder):
    return parity.run("chatterbox", weights=folder)


@pytest.fixture(scope="module")
def hift_ref(reference):
    """The reference HiFT on the clip's mel: its taps (the source among them) and audio."""
    return R.run_hift_reference(reference, R.parity_mel(), R.NOISE_SEED)


def test_upstream_layout_is_detected_by_its_files(folder, model):
    from mlx_audio_lab.registry import detect

    assert not (folder / "config.json").exists()
    assert {p.name for p in folder.iterdir()} >= {"s3gen.safetensors", "t3_cfg.safetensors", "ve.safetensors",
                                                  "tokenizer.json", "conds.pt"}
    assert detect(folder).model_type == "chatterbox" and type(model).__name__ == "Chatterbox"
    assert model.builtin is not None and model.builtin.prompt_mel.shape[1] == 2 * model.builtin.prompt_tokens.shape[1]


def test_parity_end_to_end_every_component_by_name(report):
    """One run: VoiceEncoder, CAMPPlus on the clip; T3 greedy on the text in the built-in voice; the flow on
    its valid tokens; HiFT on that mel; each named layer within tolerance."""
    assert report.ok and report.first_divergence is None and report.outputs_match, report.table()
    names = [r.name for r in report.layers]
    for component in ("ve.", "campplus.", "t3.", "flow.encoder.", "flow.decoder.estimator.", "hift."):
        assert any(n.startswith(component) for n in names), component
    rows = {r.name: r for r in report.layers}
    assert rows["t3.greedy_tokens"].max_abs == 0 and rows["t3.greedy_tokens"].shape == [1, 40]
    assert rows["t3.step_logits"].max_abs < 1e-4
    assert rows["flow.mel"].max_abs < 1e-4 and rows["hift.audio"].max_abs < 1e-3
    assert rows["ve.embedding"].max_abs < 1e-6 and rows["campplus.xvector"].max_abs < 1e-5
    assert all(r.rel_err < 1e-5 for r in report.layers if not r.name.startswith("hift.")), report.table()
    assert all(r.rel_err < 1e-3 for r in report.layers), report.table()  # HiFT: the source's F0 drift
    assert "identical (40 steps" in report.outputs_note


def test_hift_layers_exact_given_the_reference_source(model, hift_ref):
    """Fed the reference's excitation, every HiFT layer is within 1e-4 + 1e-5 |ref| (the strict default)."""
    acts, audio = hift_ref
    hift = model.s3gen.mel2wav
    strict = [parity.TapPoint(p.name, p.ref, layout=p.layout) for p in R.hift_tap_points(hift.config)[2:]]
    with capture() as got:
        hift(mx.array(R.parity_mel()), source=mx.array(acts["mel2wav.m_source"]))
    rep = compare("chatterbox", strict, {k: np.array(v) for k, v in got.items()}, acts, True)
    assert rep.ok and rep.first_divergence is None, rep.table()
    assert max(r.rel_err for r in rep.layers) < 1e-5, rep.table()
    f0 = acts["mel2wav.f0_predictor"]
    assert 0.2 < float((f0 > hift.config.nsf_voiced_threshold).mean()) < 1.0  # voiced and unvoiced frames
    assert float(np.std(audio)) > 1e-2 and float(np.abs(audio).max()) < hift.config.audio_limit  # not clipped


def test_final_slope_0_1_is_caught_at_conv_post(model, hift_ref):
    """mlx-audio 0.6.2's bug (slope 0.1 before conv_post; the reference uses torch's 0.01): parity names it."""
    acts, _ = hift_ref
    hift = model.s3gen.mel2wav
    hift.config.final_slope = 0.1
    try:
        with capture() as got:
            hift(mx.array(R.parity_mel()), source=mx.array(acts["mel2wav.m_source"]))
    finally:
        hift.config.final_slope = 0.01
    rep = compare("chatterbox", R.hift_tap_points(hift.config)[2:], {k: np.array(v) for k, v in got.items()},
                  acts, True)
    assert rep.first_divergence == "hift.conv_post", rep.table()
    rows = {r.name: r for r in rep.layers}
    assert rows["hift.conv_post"].max_abs > 20 * rows["hift.conv_post"].tol  # 0.1 against a 2e-3 bound


def _load_error(folder, edit) -> str:
    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.models.tts.chatterbox.config import HiFTConfig
    from mlx_audio_lab.models.tts.chatterbox.convert import S3GEN_KEYMAP
    from mlx_audio_lab.models.tts.chatterbox.flow import FlowConfig
    from mlx_audio_lab.models.tts.chatterbox.load import read_s3gen
    from mlx_audio_lab.models.tts.chatterbox.s3gen import S3Gen

    state, _ = read_s3gen(folder)
    model = S3Gen(HiFTConfig.from_state(state), FlowConfig.from_state(state))
    edit(state)
    with pytest.raises(CheckpointError) as e:
        fill_model(model, state, S3GEN_KEYMAP, {}, "edited")
    return str(e.value)


def test_every_conformer_weight_is_placed(folder, model):
    """The encoder's weights all land on parameters; one conformer weight missing or unknown is an error."""
    from mlx.utils import tree_flatten

    from mlx_audio_lab.models.tts.chatterbox.load import read_s3gen

    state, _ = read_s3gen(folder)
    enc = [k for k in state if k.startswith("flow.encoder.")]
    params = dict(tree_flatten(model.s3gen.parameters()))
    # 19 weights per conformer layer (upstream: 10 layers, the 190 mlx-audio 0.6.2 left random) + 16 others
    assert len(enc) == sum(k.startswith("flow.encoder.") for k in params) == 5 * 19 + 16
    q = np.asarray(params["flow.encoder.up_encoders.3.self_attn.q_proj.weight"])
    assert np.array_equal(q, state["flow.encoder.up_encoders.3.self_attn.linear_q.weight"])
    for edit in (lambda s: s.pop("flow.encoder.up_encoders.3.self_attn.linear_q.weight"),
                 lambda s: s.__setitem__("flow.encoder.extra.weight", np.zeros(3, np.float32))):
        assert "flow.encoder" in _load_error(folder, edit)


def test_euler_trajectory_goes_from_noise_to_the_mel(model):
    flow = model.s3gen.flow
    prompt_mel = R.parity_mel(0.8)
    rng = np.random.default_rng(0)
    prompt, tokens = rng.integers(0, 6561, (1, prompt_mel.shape[1] // 2)), rng.integers(0, 6561, (1, 15))
    noise = mx.array(R.flow_noise(prompt_mel.shape[1] + 30, 0))
    steps: list = []
    mel = flow(mx.array(tokens), mx.array(prompt), mx.array(prompt_mel), mx.array(rng.standard_normal((1, 192))),
               noise=noise, trajectory=steps)
    assert len(steps) == flow.config.n_timesteps == 10
    assert np.allclose(np.array(steps[-1][:, prompt_mel.shape[1]:]), np.array(mel))
    first, last = np.array(steps[0]), np.array(steps[-1])
    assert np.abs(first - np.array(noise)).max() < np.abs(last - np.array(noise)).max()  # it travels away
    t = np.array(flow.decoder.time_grid(10))
    assert t[0] == 0 and abs(t[-1] - 1) < 1e-6 and np.all(np.diff(t) > 0) and np.diff(t)[0] < np.diff(t)[-1]


def test_sampled_speech_tokens_identical_for_the_same_draws(folder, model):
    """The reference's loop (repetition penalty, temperature, min-p, top-p, multinomial) fed the same draws."""
    from unittest import mock

    import torch
    from chatterbox.models.t3 import t3 as t3_module
    from chatterbox.models.t3.modules.cond_enc import T3Cond

    from mlx_audio_lab.parity.generation import torch_draws

    inputs = R.t3_parity_inputs(folder)
    ref = R.load_t3_reference(folder)
    ids = np.concatenate([[255], inputs["text_tokens"], [0]])
    cond = T3Cond(speaker_emb=torch.from_numpy(inputs["speaker"]),
                  cond_prompt_speech_tokens=torch.from_numpy(inputs["t3_prompt_tokens"]).long(),
                  emotion_adv=0.5 * torch.ones(1, 1, 1))
    with torch_draws(SeededDraws(3)), mock.patch.object(t3_module, "tqdm", lambda x, **_: x):
        want = ref.inference(t3_cond=cond, text_tokens=torch.from_numpy(np.stack([ids, ids])).long(),
                             max_new_tokens=30, temperature=0.8, cfg_weight=0.5, repetition_penalty=1.2,
                             min_p=0.05, top_p=0.9)[0].numpy()
    got = speech_tokens(model.t3, inputs["text_tokens"], inputs["speaker"], inputs["t3_prompt_tokens"], 0.5, 0.5,
                        SamplingConfig(temperature=0.8, top_p=0.9, min_p=0.05, repetition_penalty=1.2),
                        SeededDraws(3), max_new_tokens=30)
    assert np.array_equal(got, want) and len(np.unique(want)) > 10


def test_generate_speaks_the_reference_tokens_in_the_builtin_voice(folder, model):
    """`generate` (greedy) on conds.pt gives the reference T3's tokens and 960 samples (2 mel frames) per valid one;
    the same path end to end (tokens -> flow -> HiFT, same draws) is in the parity report."""
    inputs = R.parity_inputs(folder)
    _, want, _ = R.run_t3_reference(R.load_t3_reference(folder), inputs, 30)
    (chunk,) = model.generate(R.PARITY_TEXT, temperature=0, max_frames=30)
    valid = chunk.extras["valid_tokens"]
    assert np.array_equal(chunk.extras["codes"][0], want) and np.array_equal(valid, want[want < 6561])
    assert 5 < valid.size < 30 and chunk.audio.shape == (960 * valid.size,) and chunk.sample_rate == 24_000
    assert float(np.std(chunk.audio)) > 1e-2 and np.all(chunk.audio[:480] == 0)  # the reference's 20 ms silence


def test_voice_clip_conditionals_match_the_reference(model):
    """A clip -> speaker (VoiceEncoder) and x-vector (CAMPPlus) as the reference computes them; the clip's
    speech tokens are given (the S3 tokenizer is a separate port), and without them the error says so."""
    from mlx_audio_lab.audio import resample
    from mlx_audio_lab.models.tts.chatterbox.generate import NoSpeechTokenizer

    clip16 = R.ve_clip()
    clip24 = resample(clip16, 16_000, 24_000)
    with pytest.raises(NoSpeechTokenizer, match="S3 tokenizer"):
        model.conditionals(clip24)
    c = model.conditionals(clip24, prompt_tokens=np.arange(100)[None], t3_prompt_tokens=np.arange(30)[None])
    assert c.prompt_mel.shape[1] == 2 * c.prompt_tokens.shape[1] and c.speaker.shape == (1, 256)
    assert c.xvector.shape == (1, 192) and abs(float(np.linalg.norm(c.speaker)) - 1) < 1e-5


def test_speak_cli_writes_audio_and_tokens(folder, tmp_path):
    import soundfile as sf

    from mlx_audio_lab.cli import main

    out, codes = tmp_path / "out.wav", tmp_path / "tokens.npy"
    assert main(["speak", "--model", str(folder), R.PARITY_TEXT, "--temperature", "0", "--max-frames", "30",
                 "--codes-out", str(codes), "--out", str(out)]) == 0
    audio, rate = sf.read(out)
    tokens = np.load(codes)
    assert rate == 24_000 and tokens.shape == (1, 30) and audio.size == 480 * 2 * int((tokens < 6561).sum())
    assert main(["speak", "--model", str(folder), "hi", "--voice", str(out), "--out", str(tmp_path / "b.wav")]) == 2
