"""The PyTorch side of IndexTTS 2's s2mel stage: `indextts.s2mel.modules.commons.MyModel(cfg.s2mel,
use_gpt_latent=True)` (PyPI `indextts2-inference`), stepped as `IndexTTS2.infer` steps it.

The fixture adds a seeded tiny `MyModel` saved as upstream keeps it (`s2mel.pth` = `{"net": {name: state_dict}}`,
read by `load_checkpoint2`) and a tiny BigVGAN v2 22 kHz 80 band (`bigvgan/`) to the GPT fixture. Upstream's
`gpt_layer` hard-codes a 1280-wide input (the real GPT's width); the tiny one takes the tiny GPT's width.
Parity feeds both sides the same GPT latents, semantic embeddings (the MaskGCT codec's place), prompt clip,
speaker style (CAMPPlus's place) and initial noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# config.yaml's s2mel section: IndexTTS-2's (real) and a tiny one of the same schema
S2MEL_REAL = {
    "preprocess_params": {"sr": 22050, "spect_params": {"n_fft": 1024, "win_length": 1024, "hop_length": 256,
                                                        "n_mels": 80, "fmin": 0, "fmax": "None"}},
    "dit_type": "DiT", "reg_loss_type": "l1", "style_encoder": {"dim": 192},
    "length_regulator": {"channels": 512, "is_discrete": False, "in_channels": 1024, "content_codebook_size": 2048,
                         "sampling_ratios": [1, 1, 1, 1], "vector_quantize": False, "n_codebooks": 1,
                         "quantizer_dropout": 0.0, "f0_condition": False, "n_f0_bins": 512},
    "DiT": {"hidden_dim": 512, "num_heads": 8, "depth": 13, "class_dropout_prob": 0.1, "block_size": 8192,
            "in_channels": 80, "style_condition": True, "final_layer_type": "wavenet", "target": "mel",
            "content_dim": 512, "content_codebook_size": 1024, "content_type": "discrete", "f0_condition": False,
            "n_f0_bins": 512, "content_codebooks": 1, "is_causal": False, "long_skip_connection": True,
            "zero_prompt_speech_token": False, "time_as_token": False, "style_as_token": False,
            "uvit_skip_connection": True, "add_resblock_in_transformer": False},
    "wavenet": {"hidden_dim": 512, "num_layers": 8, "kernel_size": 5, "dilation_rate": 1, "p_dropout": 0.2,
                "style_condition": True},
}
S2MEL_SIZES = {
    "real": S2MEL_REAL,
    "tiny": {**S2MEL_REAL,
             "length_regulator": {**S2MEL_REAL["length_regulator"], "channels": 32, "content_codebook_size": 64,
                                  "sampling_ratios": [1, 1]},
             "DiT": {**S2MEL_REAL["DiT"], "hidden_dim": 32, "num_heads": 2, "depth": 5, "content_dim": 32,
                     "content_codebook_size": 64},
             "wavenet": {**S2MEL_REAL["wavenet"], "hidden_dim": 32, "num_layers": 3}},
}
CHECKPOINT, VOCODER, CAMPPLUS = "s2mel.pth", "bigvgan", "campplus_cn_common.bin"  # the last: funasr/campplus
SEMANTIC_DIM, STYLE_DIM = 1024, 192
PARITY_CODES, PARITY_PROMPT_CODES, PARITY_PROMPT_SECONDS, PARITY_STEPS, PARITY_CFG = 20, 30, 0.6, 25, 0.7


def build_s2mel_fixture(folder: Path, size: str, gpt_dim: int) -> dict:
    """Save a seeded `MyModel` as `s2mel.pth` and a tiny BigVGAN under `bigvgan/`; returns the config.yaml keys."""
    import torch

    from ....fixtures import randomize_
    from ...codecs.bigvgan.reference import build_fixture as build_bigvgan

    section = S2MEL_SIZES[size]
    torch.manual_seed(0)
    model = _my_model(section, gpt_dim)
    randomize_(model, seed=2, std=0.08, keep=tuple(n for n, _ in model.named_buffers()))
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # weight-norm gains O(1) so each normalised layer keeps its input's scale
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
        # the velocity's output layer: O(1) spread and a band-dependent drift (-3 low .. -8 high, a log-mel's tilt),
        # so the ODE carries the noise about as far as a real mel lies from it
        out = model.models["cfm"].estimator.conv2
        out.weight.mul_(4.0)
        bands = out.bias.shape[0]
        out.bias.copy_(-3.0 - 5.0 * torch.arange(bands) / (bands - 1) + 0.3 * torch.randn(bands, generator=g))
    torch.save({"net": {k: m.state_dict() for k, m in model.models.items()}}, Path(folder) / CHECKPOINT)
    build_bigvgan(Path(folder) / VOCODER, "tiny" if size == "real" else "tiny_22khz")
    torch.save(_seeded_campplus().state_dict(), Path(folder) / CAMPPLUS)
    return {"s2mel": section, "s2mel_checkpoint": CHECKPOINT,
            "vocoder": {"type": "bigvgan", "name": VOCODER}}


def _seeded_campplus():
    """infer_v2's style encoder, `CAMPPlus(feat_dim=80, embedding_size=192)` (its real size), Kaiming convs kept,
    batch norms given seeded statistics and affines."""
    import torch
    from indextts.s2mel.modules.campplus.DTDNN import CAMPPlus

    torch.manual_seed(4)
    model = CAMPPlus(feat_dim=80, embedding_size=STYLE_DIM).eval()
    g = torch.Generator().manual_seed(6)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.normal_(0.0, 0.1, generator=g)
                m.running_var.uniform_(1.0, 1.5, generator=g)
                if m.affine:
                    m.weight.normal_(1.0, 0.1, generator=g)
                    m.bias.normal_(0.0, 0.1, generator=g)
    return model


def reference_style(folder: Path, audio_16k: np.ndarray) -> np.ndarray:
    """infer_v2's style: Kaldi fbank (80 bins, no dither) of the 16 kHz clip, mean removed, through CAMPPlus."""
    import torch
    import torchaudio
    from indextts.s2mel.modules.campplus.DTDNN import CAMPPlus

    model = CAMPPlus(feat_dim=80, embedding_size=STYLE_DIM)
    model.load_state_dict(torch.load(Path(folder) / CAMPPLUS, map_location="cpu", weights_only=True))
    model.eval()
    with torch.no_grad():
        feat = torchaudio.compliance.kaldi.fbank(torch.from_numpy(np.asarray(audio_16k, np.float32))[None],
                                                 num_mel_bins=80, dither=0, sample_frequency=16000)
        return model((feat - feat.mean(dim=0, keepdim=True))[None]).numpy()


def _my_model(section: dict, gpt_dim: int):
    import torch
    from indextts.s2mel.modules.commons import MyModel
    from omegaconf import OmegaConf

    model = MyModel(OmegaConf.create(section), use_gpt_latent=True)
    if gpt_dim != 1280:  # upstream's Sequential hard-codes the real GPT's 1280
        model.models["gpt_layer"] = torch.nn.Sequential(torch.nn.Linear(gpt_dim, 256), torch.nn.Linear(256, 128),
                                                        torch.nn.Linear(128, SEMANTIC_DIM))
    return model.eval()


def load_s2mel_reference(folder: Path):
    """`MyModel` as IndexTTS2 loads it (`load_checkpoint2`, then `setup_caches(1, 8192)`), fp32, eval mode."""
    import yaml
    from indextts.s2mel.modules.commons import load_checkpoint2

    folder = Path(folder)
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    model = _my_model(cfg["s2mel"], cfg["gpt"]["model_dim"])
    model, *_ = load_checkpoint2(model, None, str(folder / cfg.get("s2mel_checkpoint", CHECKPOINT)),
                                 load_only_params=True, ignore_modules=[], is_distributed=False)
    model.models["cfm"].estimator.setup_caches(max_batch_size=1, max_seq_length=8192)
    return model.eval()


def reference_s2mel(model, cfg: dict, inputs: dict[str, np.ndarray], steps: int = PARITY_STEPS,
                    cfg_rate: float = PARITY_CFG) -> dict[str, np.ndarray]:
    """infer_v2's s2mel steps on the inputs (the ODE started from the given noise, not `torch.randn`):
    prompt mel, prompt condition, target condition, mel (1, 80, frames) of the target."""
    import torch
    from indextts.s2mel.modules.audio import mel_spectrogram

    sp, sr = cfg["preprocess_params"]["spect_params"], cfg["preprocess_params"]["sr"]
    mel_fn_args = {"n_fft": sp["n_fft"], "win_size": sp["win_length"], "hop_size": sp["hop_length"],
                   "num_mels": sp["n_mels"], "sampling_rate": sr, "fmin": sp.get("fmin", 0),
                   "fmax": None if sp.get("fmax", "None") == "None" else 8000, "center": False}
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}  # with the style (1, 192)
    m = model.models
    with torch.no_grad():
        ref_mel = mel_spectrogram(t["s2mel_prompt_audio"][None], **mel_fn_args)  # (1, 80, P)
        prompt_condition = m["length_regulator"](t["s2mel_prompt_semantic"], ylens=torch.LongTensor(
            [ref_mel.size(2)]), n_quantizers=3, f0=None)[0]
        latent = m["gpt_layer"](t["s2mel_latent"])
        s_infer = t["s2mel_semantic"] + latent
        code_lens = torch.LongTensor([s_infer.shape[1]])
        target_lengths = (code_lens * 1.72).long()
        cond = m["length_regulator"](s_infer, ylens=target_lengths, n_quantizers=3, f0=None)[0]
        cat_condition = torch.cat([prompt_condition, cond], dim=1)
        z = t["s2mel_noise"].transpose(1, 2).contiguous().clone()  # (1, 80, T): inference()'s randn, given
        t_span = torch.linspace(0, 1, steps + 1)
        vc = quiet_euler(m["cfm"])(z, torch.LongTensor([cat_condition.size(1)]), ref_mel, cat_condition,
                                  t["s2mel_style"], None, t_span, cfg_rate)
        vc_target = vc[:, :, ref_mel.size(-1):]
    return {"s2mel/prompt_mel": ref_mel.numpy(), "s2mel/prompt_condition": prompt_condition.numpy(),
            "s2mel/cond": cond.numpy(), "s2mel/mel": vc_target.numpy()}


def quiet_euler(cfm):
    """`cfm.solve_euler` without its tqdm bar (it would land in notebook outputs)."""
    from unittest import mock

    from indextts.s2mel.modules import flow_matching

    def solve(*args, **kwargs):
        with mock.patch.object(flow_matching, "tqdm", lambda steps: steps):
            return cfm.solve_euler(*args, **kwargs)

    return solve


def run_s2mel_mlx(folder: Path, inputs: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """The port on the same inputs, taps on; the target mel (1, frames, 80)."""
    import mlx.core as mx

    from ....taps import capture, tap
    from .s2mel import load_s2mel, prompt_mel
    from .synthesis import load_campplus, style_from_clip

    model = load_s2mel(folder)
    x = {k: mx.array(v) for k, v in inputs.items()}
    with capture() as acts:
        style = tap("s2mel.style", style_from_clip(load_campplus(folder), inputs["s2mel_prompt_audio_16k"]))
        mel_p = tap("s2mel.prompt_mel", prompt_mel(x["s2mel_prompt_audio"], model.config.mel))
        mel = model(x["s2mel_latent"], x["s2mel_semantic"], x["s2mel_prompt_semantic"], mel_p, style,
                    x["s2mel_noise"], steps=PARITY_STEPS, cfg_rate=PARITY_CFG)
    return {k: np.array(v) for k, v in acts.items()}, {"s2mel_mel": np.array(mel)}


def target_frames_of(n_codes: int) -> int:
    """infer_v2's `(code_lens * 1.72).long()`."""
    import torch

    return int((torch.LongTensor([n_codes]) * 1.72).long()[0])


def load_vocoder_reference(folder: Path):
    """infer_v2's vocoder: the package's own BigVGAN `from_pretrained` (here the fixture's folder), weight norm
    removed, eval mode."""
    import yaml
    from indextts.s2mel.modules.bigvgan import bigvgan

    cfg = yaml.safe_load((Path(folder) / "config.yaml").read_text())
    model = bigvgan.BigVGAN.from_pretrained(str(Path(folder) / cfg["vocoder"]["name"]), use_cuda_kernel=False)
    model.remove_weight_norm()
    return model.eval()


def s2mel_taps(folder: Path) -> list[tuple[str, str, str]]:
    """(MLX tap, `MyModel` module or recorded value, layout) in forward order; module hooks keep the first call (the
    first Euler step, both CFG halves). `reference.py` makes parity's TapPoints of them."""
    from .s2mel import read_s2mel_config

    cfg = read_s2mel_config(folder)
    e = "models.cfm.estimator"
    pts = [("s2mel.style", "s2mel/style", "same"),
           ("s2mel.prompt_mel", "s2mel/prompt_mel", "channels_first"),
           ("s2mel.prompt_condition", "s2mel/prompt_condition", "same"),
           ("s2mel.gpt_layer", "models.gpt_layer", "same"), ("s2mel.cond", "s2mel/cond", "same"),
           ("s2mel.dit.t_embedder", f"{e}.t_embedder", "same"),
           ("s2mel.dit.cond_x_merge_linear", f"{e}.cond_x_merge_linear", "same")]
    pts += [(f"s2mel.dit.transformer.layers.{i}", f"{e}.transformer.layers.{i}", "same")
            for i in range(cfg.dit.depth)]
    pts += [("s2mel.dit.transformer.norm", f"{e}.transformer.norm", "same"),
            ("s2mel.dit.skip_linear", f"{e}.skip_linear", "same"), ("s2mel.dit.conv1", f"{e}.conv1", "same")]
    pts += [(f"s2mel.dit.wavenet.res_skip_layers.{i}", f"{e}.wavenet.res_skip_layers.{i}", "channels_first")
            for i in range(cfg.wavenet.num_layers)]
    pts += [("s2mel.dit.wavenet", f"{e}.wavenet", "channels_first"),
            ("s2mel.dit.final_layer", f"{e}.final_layer", "same"),
            ("s2mel.dit", e, "channels_first")]
    return pts + [("s2mel.mel", "s2mel/mel", "channels_first")]
