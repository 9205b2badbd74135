"""Chatterbox port (S3Gen so far): every flow / HiFT layer against `chatterbox-tts` on the fixture, the key map
placing every conformer weight, HiFT's final leaky-ReLU slope caught by parity, the Euler trajectory."""

from __future__ import annotations

import helpers
import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab import parity
from mlx_audio_lab.convert.keymap import CheckpointError
from mlx_audio_lab.models.tts.chatterbox import reference as R
from mlx_audio_lab.parity.core import compare

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

    assert not (folder / "config.json").exists() and (folder / "s3gen.safetensors").is_file()
    assert detect(folder).model_type == "chatterbox" and type(model).__name__ == "S3Gen"


def test_parity_every_layer_by_component(report):
    assert report.ok and report.first_divergence is None and report.outputs_match, report.table()
    names = [r.name for r in report.layers]
    for component in ("flow.encoder.", "flow.decoder.estimator.", "hift."):
        assert any(n.startswith(component) for n in names), component
    assert "flow.mel" in names and "hift.audio" in names
    rows = {r.name: r for r in report.layers}
    assert rows["flow.mel"].max_abs < 1e-4 and rows["hift.audio"].max_abs < 1e-3
    assert all(r.rel_err < 5e-6 for r in report.layers if r.name.startswith("flow.")), report.table()
    assert all(r.rel_err < 1e-3 for r in report.layers), report.table()  # HiFT: the source's F0 drift


def test_hift_layers_exact_given_the_reference_source(model, hift_ref):
    """Fed the reference's excitation, every HiFT layer is within 1e-4 + 1e-5 |ref| (the strict default)."""
    acts, audio = hift_ref
    cfg = model.mel2wav.config
    strict = [parity.TapPoint(p.name, p.ref, layout=p.layout) for p in R.hift_tap_points(cfg)[2:]]
    from mlx_audio_lab.taps import capture

    with capture() as got:
        model.mel2wav(mx.array(R.parity_mel()), source=mx.array(acts["mel2wav.m_source"]))
    rep = compare("chatterbox", strict, {k: np.array(v) for k, v in got.items()}, acts, True)
    assert rep.ok and rep.first_divergence is None, rep.table()
    assert max(r.rel_err for r in rep.layers) < 1e-5, rep.table()
    f0 = acts["mel2wav.f0_predictor"]
    assert 0.2 < float((f0 > cfg.nsf_voiced_threshold).mean()) < 1.0  # voiced and unvoiced frames both
    assert float(np.std(audio)) > 1e-2 and float(np.abs(audio).max()) < cfg.audio_limit  # not clipped


def test_final_slope_0_1_is_caught_at_conv_post(model, hift_ref):
    """mlx-audio 0.6.2's bug (slope 0.1 before conv_post, the reference uses torch's 0.01): parity names it."""
    acts, _ = hift_ref
    cfg = model.mel2wav.config
    from mlx_audio_lab.taps import capture

    cfg.final_slope = 0.1
    try:
        with capture() as got:
            model.mel2wav(mx.array(R.parity_mel()), source=mx.array(acts["mel2wav.m_source"]))
    finally:
        cfg.final_slope = 0.01
    rep = compare("chatterbox", R.hift_tap_points(cfg)[2:], {k: np.array(v) for k, v in got.items()}, acts, True)
    assert rep.first_divergence == "hift.conv_post", rep.table()
    rows = {r.name: r for r in rep.layers}
    assert rows["hift.conv_post"].max_abs > 20 * rows["hift.conv_post"].tol  # 0.1 vs a 2e-3 bound


def test_every_conformer_weight_is_placed(folder):
    """The encoder's weights all land on parameters; one conformer weight missing or unknown is an error."""
    from mlx_audio_lab.models.tts.chatterbox.load import load_s3gen, read_s3gen

    state, _ = read_s3gen(folder)
    enc = [k for k in state if k.startswith("flow.encoder.")]
    model = load_s3gen(folder)
    from mlx.utils import tree_flatten

    params = dict(tree_flatten(model.parameters()))
    # 19 weights per conformer layer (upstream: 10 layers, the 190 mlx-audio 0.6.2 left random) + 16 others
    assert len(enc) == sum(k.startswith("flow.encoder.") for k in params) == 5 * 19 + 16
    q = np.asarray(params["flow.encoder.up_encoders.3.self_attn.q_proj.weight"])
    assert np.array_equal(q, state["flow.encoder.up_encoders.3.self_attn.linear_q.weight"])
    for edit in (lambda s: s.pop("flow.encoder.up_encoders.3.self_attn.linear_q.weight"),
                 lambda s: s.__setitem__("flow.encoder.extra.weight", np.zeros(3, np.float32))):
        assert "flow.encoder" in _load_error(folder, edit)


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


def test_euler_trajectory_goes_from_noise_to_the_mel(model):
    inputs = R.parity_inputs(None)
    n = inputs["prompt_mel"].shape[1] + 2 * inputs["tokens"].shape[1]
    noise = mx.array(R.flow_noise(n, 0))
    steps: list = []
    mel = model.flow(mx.array(inputs["tokens"]), mx.array(inputs["prompt_tokens"]), mx.array(inputs["prompt_mel"]),
                     mx.array(inputs["xvector"]), noise=noise, trajectory=steps)
    assert len(steps) == model.flow.config.n_timesteps == 10
    assert np.allclose(np.array(steps[-1][:, inputs["prompt_mel"].shape[1]:]), np.array(mel))
    t = np.array(model.flow.decoder.time_grid(10))
    assert t[0] == 0 and abs(t[-1] - 1) < 1e-6 and np.all(np.diff(t) > 0) and np.diff(t)[0] < np.diff(t)[-1]
