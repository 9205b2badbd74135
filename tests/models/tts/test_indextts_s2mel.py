"""IndexTTS 2 audio stage: s2mel (length regulator, DiT + WaveNet estimator, Euler flow matching with CFG, mel front
end) per named layer against `indextts2-inference`'s MyModel on the same noise; the GPT latents it consumes; the
chain codes -> latents -> s2mel -> BigVGAN against infer_v2's steps; the conditioning reaches the mel."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.fixtures import build
from mlx_audio_lab.models.tts.indextts import reference as ref
from mlx_audio_lab.models.tts.indextts import reference_s2mel as ref_s2mel
from mlx_audio_lab.parity.core import compare


@pytest.fixture(scope="module")
def folder():
    return build("indextts")


@pytest.fixture(scope="module")
def inputs(folder):
    return ref.s2mel_inputs(folder)


@pytest.fixture(scope="module")
def runs(folder, inputs):
    return ref.run_s2mel_reference(folder, inputs), ref_s2mel.run_s2mel_mlx(folder, inputs)


@pytest.fixture(scope="module")
def s2mel(folder):
    from mlx_audio_lab.models.tts.indextts.s2mel import load_s2mel

    return load_s2mel(folder)


def test_fixture_holds_s2mel_in_upstream_layout(folder):
    import torch
    import yaml

    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    assert cfg["s2mel_checkpoint"] == "s2mel.pth" and cfg["s2mel"]["DiT"]["final_layer_type"] == "wavenet"
    net = torch.load(folder / "s2mel.pth", map_location="cpu", weights_only=True)["net"]
    assert set(net) == {"cfm", "length_regulator", "gpt_layer"}
    assert any(k.endswith("weight_g") for k in net["cfm"])  # weight norm kept as upstream saves it
    assert (folder / cfg["vocoder"]["name"] / "bigvgan_generator.pt").is_file()
    assert (folder / "campplus_cn_common.bin").is_file()


def test_every_named_layer_and_the_mel_within_tolerance(folder, runs):
    (ref_acts, ref_out), (mlx_acts, mlx_out) = runs
    points = ref.s2mel_tap_points(folder)
    report = compare("indextts", points, mlx_acts, ref_acts, True)
    assert report.ok, report.table()
    assert len(report.layers) == len(points) >= 20
    assert all(r.max_abs <= 1e-4 for r in report.layers), report.table()
    rows = {r.name: r for r in report.layers}
    assert rows["s2mel.style"].max_abs <= 1e-5 and np.abs(ref_acts["s2mel/style"]).max() > 0.1
    assert rows["s2mel.gpt_layer"].max_abs <= 1e-6 and rows["s2mel.prompt_condition"].max_abs <= 1e-5
    mel = ref_out["s2mel_mel"]  # (1, 80, frames): varies over time and bands
    assert mel.shape[-1] == ref_s2mel.target_frames_of(ref_s2mel.PARITY_CODES)
    assert mel.std() > 0.5 and np.abs(np.diff(mel, axis=-1)).mean() > 0.1
    assert np.abs(np.swapaxes(mlx_out["s2mel_mel"], 1, 2) - mel).max() <= 1e-4


def test_chain_codes_to_audio_matches_infer_v2(folder):
    """GPT greedy codes -> teacher-forced latents -> s2mel -> BigVGAN, both sides on the same noise."""
    from mlx_audio_lab import load
    from mlx_audio_lab.models.tts.indextts.generate import generate_codes
    from mlx_audio_lab.models.tts.indextts.s2mel import load_s2mel
    from mlx_audio_lab.models.tts.indextts.synthesis import (
        audio_from_mel,
        load_campplus,
        load_vocoder,
        mel_from_codes,
        style_from_clip,
    )

    gpt = load(folder)
    inp = ref.parity_inputs(folder)
    codes = np.array([[s.token for s in generate_codes(gpt, inp["features"], inp["text"], max_steps=60)]])
    codes = ref.without_stop(gpt.config, codes)
    assert codes.shape[1] >= 10
    chain = ref.chain_inputs(folder, codes.shape[1])
    want = ref.reference_chain(folder, inp["features"], inp["text"], codes, chain)
    style = style_from_clip(load_campplus(folder), chain["s2mel_prompt_audio_16k"])
    mel = mel_from_codes(gpt, load_s2mel(folder), inp["features"], inp["text"], codes, chain["s2mel_semantic"],
                         chain["s2mel_prompt_semantic"], chain["s2mel_prompt_audio"], style, chain["s2mel_noise"])
    audio = audio_from_mel(load_vocoder(folder), mel)
    assert np.abs(np.array(style) - want["style"]).max() <= 1e-5
    assert np.abs(np.swapaxes(np.array(mel), 1, 2) - want["mel"]).max() <= 1e-4
    assert audio.shape == want["audio"].shape == (mel.shape[1] * 256,)
    assert np.abs(audio - want["audio"]).max() <= 1e-4 and want["audio"].std() > 0.05


def test_conditioning_reaches_the_mel(s2mel, inputs, folder):
    """Same inputs give the same mel; another style, prompt or content, or no guidance, give another."""
    import mlx.core as mx

    from mlx_audio_lab.models.tts.indextts.s2mel import prompt_mel
    from mlx_audio_lab.models.tts.indextts.synthesis import load_campplus, style_from_clip

    x = {k: mx.array(v) for k, v in inputs.items()}
    mel_p = prompt_mel(x["s2mel_prompt_audio"], s2mel.config.mel)
    x["s2mel_style"] = style_from_clip(load_campplus(folder), inputs["s2mel_prompt_audio_16k"])

    def run(**kw):
        args = dict(latent=x["s2mel_latent"], semantic=x["s2mel_semantic"], prompt_semantic=x["s2mel_prompt_semantic"],
                    prompt_mel=mel_p, style=x["s2mel_style"], noise=x["s2mel_noise"], steps=8)
        return np.array(s2mel(**{**args, **kw}))

    base = run()
    assert np.array_equal(run(), base)
    for kw in ({"style": 3 * x["s2mel_style"][:, ::-1]}, {"prompt_mel": mel_p[:, ::-1]},
               {"semantic": -x["s2mel_semantic"]}, {"cfg_rate": 0.0}):
        assert np.abs(run(**kw) - base).max() > 1e-2, kw


def test_trajectory_goes_from_noise_to_the_mel(s2mel, inputs):
    import mlx.core as mx

    from mlx_audio_lab.models.tts.indextts.s2mel import prompt_mel

    x = {k: mx.array(v) for k, v in inputs.items()}
    seen = []
    mel = s2mel(x["s2mel_latent"], x["s2mel_semantic"], x["s2mel_prompt_semantic"],
                prompt_mel(x["s2mel_prompt_audio"], s2mel.config.mel), mx.zeros((1, 192)), x["s2mel_noise"], steps=5,
                trajectory=lambda step, t, y: seen.append((step, t, np.array(y))))
    assert [s for s, _, _ in seen] == [1, 2, 3, 4, 5] and seen[-1][1] == pytest.approx(1.0)
    P = inputs["s2mel_noise"].shape[1] - mel.shape[1]
    assert np.array_equal(seen[-1][2][:, P:], np.array(mel)) and not seen[0][2][:, :P].any()


def test_frame_count_and_stretch_follow_torch():
    """1.72 frames per code as `(code_lens * 1.72).long()`; nearest frames as `F.interpolate(mode="nearest")`."""
    import torch

    from mlx_audio_lab.models.tts.indextts.s2mel import target_frames
    from mlx_audio_lab.models.tts.indextts.s2mel.length_regulator import nearest_indices

    n = torch.arange(1, 2000)
    assert [target_frames(int(i)) for i in n] == (n * 1.72).long().tolist()
    for n_in, n_out in ((20, 34), (7, 7), (30, 51), (13, 100), (100, 13), (1815, 3121)):
        src = torch.arange(n_in, dtype=torch.float32)[None, None]
        want = torch.nn.functional.interpolate(src, size=n_out, mode="nearest")[0, 0].long().numpy()
        assert np.array_equal(nearest_indices(n_in, n_out), want), (n_in, n_out)


def test_real_config_builds_with_the_reference_parameter_count():
    """IndexTTS-2's s2mel section: as many parameters as MyModel less the modules it never calls (weight norm
    counted folded); shapes only (torch on the meta device, MLX arrays never evaluated)."""
    import torch
    from mlx.utils import tree_flatten

    from mlx_audio_lab.models.tts.indextts.s2mel import S2Mel, S2MelConfig

    with torch.device("meta"):
        upstream = ref_s2mel._my_model(ref_s2mel.S2MEL_REAL, 1280)
    unused = ("x_embedder.", "cond_embedder.", "content_mask_embedder.", "length_regulator.embedding.",
              "length_regulator.mask_token")
    want = sum(p.numel() for n, p in upstream.models.named_parameters()
               if not n.endswith("weight_g") and not any(u in n for u in unused))
    port = S2Mel(S2MelConfig.from_dict({"s2mel": ref_s2mel.S2MEL_REAL, "gpt": {"model_dim": 1280}}))
    got = sum(v.size for _, v in tree_flatten(port.parameters()))
    assert got == want and got > 50_000_000


def test_unported_options_are_refused():
    from mlx_audio_lab.models.tts.indextts.s2mel import S2MelConfig

    bad = {**ref_s2mel.S2MEL_REAL, "DiT": {**ref_s2mel.S2MEL_REAL["DiT"], "style_as_token": True}}
    with pytest.raises(ValueError, match="style_as_token"):
        S2MelConfig.from_dict({"s2mel": bad})
