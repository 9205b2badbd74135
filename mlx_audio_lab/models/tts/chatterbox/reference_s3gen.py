"""The PyTorch side of S3Gen (flow + HiFT): the `chatterbox-tts` package's modules at fixture sizes, taps, draws.

`chatterbox/__init__.py` imports the `perth` watermarker, which parity does not need: it is stubbed in
`sys.modules` here, in the reference run only.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .config import HiFTConfig
from .flow import FlowConfig


class TapPoint(NamedTuple):
    """A tap as data (name, reference module, layout, tolerances); `reference.py` makes parity's TapPoints of them
    (only a port's reference.py imports the parity package)."""

    name: str
    ref: str
    tol: float = 1e-4
    layout: str = "same"
    rtol: float = 1e-5


SIZES = {  # the encoder stays 512 wide: the reference hard-codes its lookahead and upsampling convs at 512
    "tiny": dict(hift=dict(base_channels=32, f0_channels=16),
                 flow=dict(hidden=64, blocks=1, channels=32, est_blocks=1, mid_blocks=2, head_dim=8)),
}
PARITY_CLIP, PARITY_SECONDS = "harbor", 1.0
NOISE_SEED = 0


def stub_perth() -> None:
    """Let `import chatterbox` run without the `perth` watermarker (a no-op stand-in, reference runs only), and
    keep the package's dependencies' deprecation notices (diffusers' LoRACompatibleLinear, torch's sdp_kernel)
    out of notebook outputs."""
    import warnings

    warnings.filterwarnings("ignore", message=".*LoRACompatibleLinear.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*sdp_kernel.*", category=FutureWarning)
    if "perth" not in sys.modules:
        perth = types.ModuleType("perth")
        perth.PerthImplicitWatermarker = object
        sys.modules["perth"] = perth


def _hift_module(cfg: HiFTConfig):
    """The package's HiFTGenerator (with its ConvRNNF0Predictor) at `cfg`'s sizes, as S3Token2Wav builds it."""
    stub_perth()
    from chatterbox.models.s3gen.f0_predictor import ConvRNNF0Predictor
    from chatterbox.models.s3gen.hifigan import HiFTGenerator

    return HiFTGenerator(
        in_channels=cfg.in_channels, base_channels=cfg.base_channels, nb_harmonics=cfg.nb_harmonics,
        sampling_rate=cfg.sampling_rate, upsample_rates=list(cfg.upsample_rates),
        upsample_kernel_sizes=list(cfg.upsample_kernel_sizes),
        istft_params={"n_fft": cfg.n_fft, "hop_len": cfg.hop_len},
        resblock_kernel_sizes=list(cfg.resblock_kernel_sizes),
        resblock_dilation_sizes=[list(d) for d in cfg.resblock_dilation_sizes],
        source_resblock_kernel_sizes=list(cfg.source_resblock_kernel_sizes),
        source_resblock_dilation_sizes=[list(d) for d in cfg.source_resblock_dilation_sizes],
        f0_predictor=ConvRNNF0Predictor(in_channels=cfg.in_channels, cond_channels=cfg.f0_channels))


def _flow_module(cfg: FlowConfig):
    """The package's CausalMaskedDiffWithXvec (UpsampleConformerEncoder + CausalConditionalCFM) at `cfg`'s sizes."""
    stub_perth()
    from chatterbox.models.s3gen.configs import CFM_PARAMS
    from chatterbox.models.s3gen.decoder import ConditionalDecoder
    from chatterbox.models.s3gen.flow import CausalMaskedDiffWithXvec
    from chatterbox.models.s3gen.flow_matching import CausalConditionalCFM
    from chatterbox.models.s3gen.transformer.upsample_encoder import UpsampleConformerEncoder

    encoder = UpsampleConformerEncoder(
        output_size=cfg.dims, attention_heads=cfg.heads, linear_units=cfg.hidden, num_blocks=cfg.blocks,
        dropout_rate=0.1, positional_dropout_rate=0.1, attention_dropout_rate=0.1, normalize_before=True,
        input_layer="linear", pos_enc_layer_type="rel_pos_espnet", selfattention_layer_type="rel_selfattn",
        input_size=cfg.dims, use_cnn_module=False, macaron_style=False)
    estimator = ConditionalDecoder(
        in_channels=4 * cfg.mel_bins, out_channels=cfg.mel_bins, causal=True, channels=[cfg.channels], dropout=0.0,
        attention_head_dim=cfg.head_dim, n_blocks=cfg.est_blocks, num_mid_blocks=cfg.mid_blocks,
        num_heads=cfg.est_heads, act_fn="gelu")
    decoder = CausalConditionalCFM(spk_emb_dim=cfg.mel_bins, cfm_params=CFM_PARAMS, estimator=estimator)
    return CausalMaskedDiffWithXvec(input_size=cfg.dims, output_size=cfg.mel_bins, spk_embed_dim=cfg.spk_embed_dim,
                                    vocab_size=cfg.vocab_size, encoder=encoder, decoder=decoder)


class _S3Gen:
    """Holder of the reference's S3Gen parts under the checkpoint's names (`mel2wav`, `flow`)."""

    def __new__(cls, hift: HiFTConfig, flow: FlowConfig):
        import torch

        stub_perth()
        from chatterbox.models.s3gen.xvector import CAMPPlus

        module = torch.nn.Module()
        module.speaker_encoder = CAMPPlus(memory_efficient=False)
        module.flow = _flow_module(flow)
        module.mel2wav = _hift_module(hift)
        return module


def _seed_gains_(model, seed: int, scales: dict[str, float]) -> None:
    """Weight-norm gains near `scale` (1 by default) so activations stay O(1) through the stack."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("parametrizations.weight.original0"):
                scale = next((s for k, s in scales.items() if k in name), 1.0)
                p.copy_(scale * (1.0 + 0.2 * torch.randn(p.shape, generator=g)))


def build_s3gen(size: str = "tiny"):
    """A seeded tiny S3Gen (reference classes) whose outputs vary: F0 crosses the voiced threshold, etc."""
    import torch

    from ....fixtures import randomize_

    torch.manual_seed(0)
    model = _S3Gen(HiFTConfig(**SIZES[size]["hift"]), FlowConfig(**SIZES[size]["flow"])).eval()
    randomize_(model.flow, seed=0, std=0.1)
    randomize_(model.mel2wav, seed=0, std=0.1)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # CAMPPlus keeps its Kaiming convs; its batch norms get seeded statistics
        for m in model.speaker_encoder.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1.0 + 0.5 * torch.rand(m.running_var.shape, generator=g))
                if m.affine:
                    m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=g))
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    with torch.no_grad():  # token embeddings O(1); conformer output projections small (deep residual stacks)
        model.flow.input_embedding.weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(2))
        for name, p in model.flow.named_parameters():
            if name.endswith(("linear_out.weight", "w_2.weight", "to_out.0.weight", "net.2.weight")):
                p.mul_(0.3)
    _seed_gains_(model, 1, {"conv_post": 0.5, "convs2": 0.5})
    with torch.no_grad():  # F0 of tens to hundreds of Hz: voiced and unvoiced stretches both occur
        model.mel2wav.f0_predictor.classifier.weight.mul_(400.0)
        model.mel2wav.f0_predictor.classifier.bias.fill_(60.0)
        for a in model.mel2wav.modules():
            if hasattr(a, "alpha") and isinstance(a.alpha, torch.nn.Parameter):
                a.alpha.copy_(1.0 + 0.3 * torch.randn(a.alpha.shape))
    return model


def load_s3gen_reference(folder: Path):
    """The reference's S3Gen parts at the checkpoint's sizes, weights loaded strictly, fp32 eval."""
    from safetensors.torch import load_file

    state = load_file(str(Path(folder) / "s3gen.safetensors"))
    from .load import read_s3gen

    folded = read_s3gen(folder)[0]
    model = _S3Gen(HiFTConfig.from_state(folded), FlowConfig.from_state(folded))
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("tokenizer.")}, strict=True)
    return model.float().eval()


def hift_tap_points(cfg: HiFTConfig) -> list[TapPoint]:
    """HiFT's taps -> modules of the reference's `mel2wav`, in forward order."""
    k = len(cfg.resblock_kernel_sizes)
    names = ["f0_predictor", "m_source", "conv_pre"]
    for i in range(len(cfg.upsample_rates)):
        names += [f"ups.{i}", f"source_downs.{i}", f"source_resblocks.{i}"]
        names += [f"resblocks.{i * k + j}" for j in range(k)]
    # downstream of the source, errors are relative to its phase, which integrates F0's float32 rounding over
    # the clip (1e-6 relative in F0 -> ~2e-4 relative in the source): rtol 1e-3 there. Fed the reference's
    # source instead (the tests do), every row agrees to ~1e-6 relative.
    points = [TapPoint("hift.f0_predictor", "mel2wav.f0_predictor"), TapPoint("hift.m_source", "mel2wav.m_source")]
    points += [TapPoint(f"hift.{n}", f"mel2wav.{n}", layout="channels_first", rtol=1e-3)
               for n in names[2:] + ["conv_post", "magnitude", "phase"]]
    return points + [TapPoint("hift.audio", "mel2wav.audio", rtol=1e-3)]


def hift_draws(cfg: HiFTConfig, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference SineGen's draws after `torch.manual_seed(seed)`: phases (1, H+1), noise (1, L, H+1)."""
    import torch
    from torch.distributions.uniform import Uniform

    n = cfg.nb_harmonics + 1
    torch.manual_seed(seed)
    phases = Uniform(low=-np.pi, high=np.pi).sample(sample_shape=(1, n, 1))
    phases[:, 0, :] = 0
    noise = torch.randn(1, n, n_samples)
    return phases[..., 0].numpy(), noise.transpose(1, 2).numpy()


def run_hift_reference(model, mel: np.ndarray, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """HiFT's inference on mel (1, T, 80) after `torch.manual_seed(seed)`: taps and audio (1, 480 T)."""
    import torch

    from ...codecs.reference import capture_reference

    hift = model.mel2wav
    cfg = HiFTConfig.from_state({f"mel2wav.{k}": v for k, v in hift.state_dict().items()})
    points = hift_tap_points(cfg)
    kept = {}
    post = hift.conv_post.register_forward_hook(lambda _m, _i, out: kept.setdefault("post", out.detach()))

    def run():
        torch.manual_seed(seed)
        return hift.inference(torch.from_numpy(mel).transpose(1, 2))

    try:
        acts, (audio, _source) = capture_reference(model, points, run)
    finally:
        post.remove()
    half = cfg.n_fft // 2 + 1
    acts["mel2wav.magnitude"] = torch.exp(kept["post"][:, :half]).numpy()
    acts["mel2wav.phase"] = torch.sin(kept["post"][:, half:]).numpy()
    acts["mel2wav.audio"] = audio.numpy()
    return acts, audio.numpy()


def flow_tap_points(cfg: FlowConfig) -> list[TapPoint]:
    """The flow's taps -> modules of the reference's `flow` (encoder; the estimator's first, CFG-batched call)."""
    enc = ["embed", "pre_lookahead_layer"] + [f"encoders.{i}" for i in range(cfg.blocks)] + ["up_layer", "up_embed"]
    enc += [f"up_encoders.{i}" for i in range(cfg.up_blocks)]
    points = [TapPoint("flow.spk_embed_affine_layer", "flow.spk_embed_affine_layer")]
    points += [TapPoint(f"flow.encoder.{n}", f"flow.encoder.{n}", layout="channels_first" if n == "up_layer"
                        else "same") for n in enc]
    points += [TapPoint("flow.encoder", "flow.encoder"), TapPoint("flow.encoder_proj", "flow.encoder_proj")]
    est = "flow.decoder.estimator"
    names = [("down_blocks.0.0", "channels_first")] + [(f"down_blocks.0.1.{j}", "same")
                                                       for j in range(cfg.est_blocks)]
    names += [(f"mid_blocks.{i}.1.{j}", "same") for i in range(cfg.mid_blocks) for j in range(cfg.est_blocks)]
    names += [("up_blocks.0.0", "channels_first")] + [(f"up_blocks.0.1.{j}", "same") for j in range(cfg.est_blocks)]
    names += [("up_blocks.0.2", "channels_first"), ("final_block", "channels_first"),
              ("final_proj", "channels_first")]
    points += [TapPoint(f"{est}.{n}", f"{est}.{n}", layout=lay) for n, lay in names]
    return points + [TapPoint("flow.mel", "flow.mel", layout="channels_first", tol=1e-3)]


def flow_noise(n_frames: int, seed: int, mel_bins: int = 80) -> np.ndarray:
    """The reference CFM's starting noise after `torch.manual_seed(seed)`: (1, frames, 80) in MLX layout."""
    import torch

    torch.manual_seed(seed)
    return torch.randn(1, mel_bins, n_frames).transpose(1, 2).numpy()


def run_flow_reference(model, inputs: dict[str, np.ndarray], seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The flow's inference (finalize, 10 Euler steps with CFG) after `torch.manual_seed(seed)`: taps, mel."""
    import torch

    from ...codecs.reference import capture_reference

    flow = model.flow
    cfg = FlowConfig.from_state({f"flow.{k}": v for k, v in flow.state_dict().items()})
    tokens = torch.from_numpy(inputs["tokens"]).long()
    prompt = torch.from_numpy(inputs["prompt_tokens"]).long()

    def run():
        torch.manual_seed(seed)
        return flow.inference(token=tokens, token_len=torch.tensor([tokens.shape[1]]), prompt_token=prompt,
                              prompt_token_len=torch.tensor([prompt.shape[1]]),
                              prompt_feat=torch.from_numpy(inputs["prompt_mel"]), prompt_feat_len=None,
                              embedding=torch.from_numpy(inputs["xvector"]), finalize=True,
                              n_timesteps=cfg.n_timesteps)

    acts, (mel, _) = capture_reference(model, flow_tap_points(cfg), run)
    acts["flow.mel"] = mel.numpy()
    return acts, mel.numpy()


CAMPPLUS_TAPS = ["head", "xvector.tdnn", "xvector.block1", "xvector.transit1", "xvector.block2", "xvector.transit2",
                 "xvector.block3", "xvector.transit3", "xvector"]


def campplus_tap_points() -> list[TapPoint]:
    """CAMPPlus's taps -> modules of the reference's `speaker_encoder` (channels-first trunk)."""
    return [TapPoint(f"campplus.{n}", f"speaker_encoder.{n}", layout="same" if n == "xvector" else "channels_first")
            for n in CAMPPLUS_TAPS]


def run_campplus_reference(model, wav_16k: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """`speaker_encoder.inference` (Kaldi fbank, mean-normalised, CAMPPlus) on a 16 kHz clip: taps, x-vector."""
    import torch

    from ...codecs.reference import capture_reference

    acts, xvector = capture_reference(model, campplus_tap_points(),
                                      lambda: model.speaker_encoder.inference(torch.from_numpy(wav_16k)[None]))
    return acts, xvector.numpy()

