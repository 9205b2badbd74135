"""The PyTorch side of DAC: transformers' DacModel, its fixture and the tap map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....parity import TapPoint
from ....parity.inputs import spoken_or_noise
from ....parity.outputs import codes_and_audio_match as outputs_match  # noqa: F401
from ..reference import capture_reference

# Fixture sizes: descript/dac_16khz's layout (strides 2-4-5-8, hop 320), tiny widths, weight-normed convs.
SIZES = {
    "tiny": dict(encoder_hidden_size=4, decoder_hidden_size=32, n_codebooks=4, codebook_size=64, codebook_dim=8),
    # ibm-research/DAC.speech.v1.0 (OuteTTS 1.0's codec) in miniature: 24 kHz, hop 320, 2 codebooks of 1024
    "tiny-24khz": dict(encoder_hidden_size=4, decoder_hidden_size=32, n_codebooks=2, codebook_size=1024,
                       codebook_dim=8, sampling_rate=24_000),
    # descript/dac_44khz's codes in miniature (Dia's codec): 44.1 kHz, 9 codebooks of 1024 (hop 320 here)
    # saved with weight norm removed, as transformers' descript/dac_44khz is (DacModel.from_pretrained loads it)
    "tiny-44khz": dict(encoder_hidden_size=4, decoder_hidden_size=32, n_codebooks=9, codebook_size=1024,
                       codebook_dim=8, sampling_rate=44_100, weight_norm=False),
}


def _config(folder: Path):
    from .config import DacConfig

    return DacConfig.from_dict(json.loads((Path(folder) / "config.json").read_text()))


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of transformers' model (or a value run_reference records), in forward order."""
    cfg = _config(folder)
    enc = ["encoder.conv1"] + [f"encoder.block.{i}" for i in range(len(cfg.downsampling_ratios))]
    enc += ["encoder.snake1", "encoder.conv2"]
    dec = ["decoder.conv1"] + [f"decoder.block.{i}" for i in range(len(cfg.upsampling_ratios))]
    dec += ["decoder.conv2"]
    points = [TapPoint(n, n, layout="channels_first") for n in enc + ["quantizer"] + dec]
    return points + [TapPoint("decoder.output", "decoder.tanh", layout="channels_first")]


def probe_codebooks_(quantizers, encoder, sample_rate: int, n_samples: int, seed: int) -> None:
    """Make random factorized quantizers behave like trained ones (shared with SNAC's fixture).

    On a probe chirp, each stage's `in_proj` becomes the top principal directions of the residual it sees
    (centred), `out_proj` its pseudo-inverse (plus the mean's projection), and the codewords are projected
    probe frames plus noise. So codes vary, and each stage removes part of the residual: quality grows with the
    number of codebooks, as in a trained codec.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n_samples) / sample_rate  # the encoder's input: a whole number of its padding multiple
    envelope = torch.sin(2 * torch.pi * 4 * t) ** 2  # syllable-like bursts and pauses, so loudness varies
    probe = envelope * torch.sin(2 * torch.pi * (200 + 400 * t) * t) * 0.3 + 0.1 * torch.randn(t.shape, generator=g)
    # TorchScript's optimizing executor (SNAC's snake) re-specializes per shape: plain execution is enough here
    with torch.no_grad(), torch.jit.optimized_execution(False):
        residual = encoder(probe[None, None].float())
        for q in quantizers:
            frames = residual[0].T  # (T, D): full-rate frames (more of them than a coarse stage's pooled ones)
            mean = frames.mean(0)
            d = q.codebook.weight.shape[1]
            basis = torch.linalg.svd(frames - mean, full_matrices=False)[2][:d]  # (d, D), orthonormal rows
            q.in_proj.weight = basis[:, :, None]  # through weight norm's right-inverse: sets g and v
            q.in_proj.bias.copy_(-basis @ mean)
            q.out_proj.weight = basis.T[:, :, None].contiguous()
            q.out_proj.bias.copy_(basis.T @ (basis @ mean))
            z_e = (frames - mean) @ basis.T
            pick = torch.randint(0, len(z_e), (q.codebook.weight.shape[0],), generator=g)  # k-means-style init
            noise = 0.3 * z_e.std(0) * torch.randn(q.codebook.weight.shape, generator=g)
            q.codebook.weight.copy_(z_e[pick] + noise)
            residual = residual - q(residual)[0]


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a seeded random, weight-normed DacModel (plus its feature extractor config), HF layout."""
    import torch
    from transformers import DacConfig, DacFeatureExtractor, DacModel

    from ....fixtures import randomize_

    torch.manual_seed(0)
    sizes = dict(SIZES[size])
    rate = sizes.pop("sampling_rate", 16_000)
    weight_norm = sizes.pop("weight_norm", True)
    config = DacConfig(sampling_rate=rate, downsampling_ratios=[2, 4, 5, 8], **sizes)
    model = DacModel(config).eval()
    model.apply_weight_norm()  # the original DAC checkpoints are weight-normed: exercise the folding
    randomize_(model, seed=0, std=0.1)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # weight-norm gains keep activations O(1) (residual branches and the output small)
        for name, p in model.named_parameters():
            if name.endswith("parametrizations.weight.original0"):
                scale = 0.5 if ".res_unit" in name and ".conv2." in name else 1.0
                scale = 0.1 if name.startswith("decoder.conv2.") else scale
                p.copy_(scale * (1.0 + 0.2 * torch.randn(p.shape, generator=g)))
    probe_codebooks_(model.quantizer.quantizers, model.encoder, config.sampling_rate, 25 * config.hop_length, seed=2)
    if not weight_norm:  # fold it: plain `weight`s (DacModel.remove_weight_norm expects the old hooks)
        for module in model.modules():
            if torch.nn.utils.parametrize.is_parametrized(module, "weight"):
                torch.nn.utils.parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    model.save_pretrained(folder, safe_serialization=True)
    DacFeatureExtractor(feature_size=1, sampling_rate=rate, hop_length=320).save_pretrained(folder)


def parity_inputs(folder: Path, clip: str = "harbor") -> dict[str, np.ndarray]:
    """A spoken clip at the model's rate (seeded noise if espeak-ng is missing), padded to the hop."""
    cfg = _config(folder)
    audio = spoken_or_noise(clip, cfg.sampling_rate)
    return {"audio": np.pad(audio, (0, -len(audio) % cfg.hop_length)).astype(np.float32)}


def load_reference(folder: Path):
    """transformers' DacModel with the folder's weights, fp32, eval mode; weight norm kept live if saved so."""
    import torch
    from safetensors.torch import load_file
    from transformers import DacConfig, DacModel

    folder = Path(folder)
    model = DacModel(DacConfig.from_pretrained(folder)).eval()
    state = load_file(str(folder / "model.safetensors"))
    state = {k.replace(".weight_g", ".parametrizations.weight.original0")
              .replace(".weight_v", ".parametrizations.weight.original1"): v for k, v in state.items()}
    if any(".parametrizations.weight." in k for k in state):
        model.apply_weight_norm()
    model.load_state_dict(state, strict=True)
    return model.float().eval().requires_grad_(False) if isinstance(model, torch.nn.Module) else model


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """Encode then decode the codes with transformers, hooks on every tapped module; quantized latents too."""
    import torch

    model = load_reference(folder)
    x = torch.from_numpy(inputs["audio"])[None, None]

    def run():
        codes = model.encode(x, return_dict=True).audio_codes  # (1, n_q, frames)
        quantized = model.quantizer.from_codes(codes)[0]
        audio = model.decode(audio_codes=codes, return_dict=True).audio_values  # (1, T)
        return codes[0], quantized, audio

    acts, (codes, quantized, audio) = capture_reference(model, tap_points(folder), run)
    acts["quantizer"] = quantized.numpy()
    return acts, {"codes": codes.numpy(), "audio": audio[0].numpy()}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    """The port on the same inputs, taps on: codes, then audio from those codes."""
    from ....taps import capture
    from .load import load_model

    model = load_model(folder)
    with capture() as acts:
        codes = model.encode(inputs["audio"])
        audio = model.decode(codes)
    return {k: np.array(v) for k, v in acts.items()}, {"codes": codes, "audio": audio}
