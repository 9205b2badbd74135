"""The PyTorch side of SNAC: the `snac` package's `SNAC`, its fixture (upstream layout) and the tap map."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ....parity import TapPoint
from ....parity.inputs import spoken_or_noise
from ..reference import capture_reference

# Fixture sizes: snac_24khz's strides (2-4-8-8, scales 4-2-1, noise, depthwise) plus the 32/44 kHz models'
# local attention (window 16 here), tiny widths: 2 heads of 64 in the encoder's and decoder's attention.
SIZES = {
    "tiny": dict(sampling_rate=24_000, encoder_dim=8, encoder_rates=[2, 4, 8, 8], decoder_dim=128,
                 decoder_rates=[8, 8, 4, 2], attn_window_size=16, codebook_size=64, codebook_dim=8,
                 vq_strides=[4, 2, 1], noise=True, depthwise=True),
}
NOISE_SEED = 0


def _config(folder: Path):
    from .config import SnacConfig

    return SnacConfig.from_dict(json.loads((Path(folder) / "config.json").read_text()))


def _config_of(d: dict):
    from .config import SnacConfig

    return SnacConfig.from_dict(d)


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of the `snac` model (or a value run_reference records), in forward order."""
    from .model import Snac

    model = Snac(_config(folder))
    names = [f"encoder.block.{i}" for i in range(len(model.encoder.block))] + ["quantizer"]
    names += [f"decoder.model.{i}" for i in range(len(model.decoder.model))]
    return [TapPoint(n, n, layout="channels_first") for n in names]


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a seeded random `snac.SNAC` as the hub repos are laid out: config.json + pytorch_model.bin."""
    import torch
    from snac import SNAC

    from ....fixtures import randomize_
    from ..dac.reference import probe_codebooks_

    torch.manual_seed(0)
    config = SIZES[size]
    model = SNAC(**config).eval()
    keep = tuple(n for n, _ in model.named_buffers() if n.endswith("inv_freq"))  # rotary frequencies stay real
    randomize_(model, seed=0, std=0.1, keep=keep)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # weight-norm gains keep activations O(1): residual branches, noise, output small
        for name, p in model.named_parameters():
            if name.endswith("parametrizations.weight.original0"):
                scale = 0.3 if ".block.3.parametrizations" in name else 1.0  # a residual unit's last conv
                last = name.startswith(f"decoder.model.{len(model.decoder.model) - 2}.")
                scale = 0.1 if ".linear." in name or last else scale  # noise gains, the output conv
                p.copy_(scale * (1.0 + 0.2 * torch.randn(p.shape, generator=g)))
    cfg = _config_of(config)
    frames = cfg.codebook_dim * max(cfg.vq_strides)  # enough frames for each stage's principal axes
    n_samples = -(-frames * cfg.hop_length // cfg.pad_multiple) * cfg.pad_multiple
    probe_codebooks_(model.quantizer.quantizers, model.encoder, cfg.sampling_rate, n_samples, seed=2)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    torch.save(model.state_dict(), folder / "pytorch_model.bin")


def parity_inputs(folder: Path, clip: str = "harbor") -> dict[str, np.ndarray]:
    """A spoken clip (seeded noise if espeak-ng is missing), padded as SNAC pads, and the decoder's noise seed."""
    cfg = _config(folder)
    audio = spoken_or_noise(clip, cfg.sampling_rate)
    audio = np.pad(audio, (0, -len(audio) % cfg.pad_multiple)).astype(np.float32)
    return {"audio": audio, "noise_seed": np.array([NOISE_SEED], np.int64)}


def _seed(inputs: dict[str, np.ndarray]) -> int:
    """The decoder's noise seed from the parity inputs (live, or read back from a recording)."""
    return int(np.asarray(inputs["noise_seed"]).reshape(-1)[0])


def load_reference(folder: Path):
    """`snac.SNAC` built from the folder's config with its weights (weights_only load), fp32, eval mode."""
    import torch
    from snac import SNAC

    folder = Path(folder)
    model = SNAC.from_config(str(folder / "config.json"))
    state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.float().eval()


@contextmanager
def seeded_torch_noise(seed: int):
    """Make the reference's NoiseBlocks draw `model.seeded_noise(seed)`'s numbers (torch.randn patched)."""
    from unittest import mock

    import torch

    rng = np.random.default_rng(seed)

    def randn(shape, device=None, dtype=None, **_):
        b, _one, t = shape
        return torch.from_numpy(rng.standard_normal((b, t)).astype(np.float32))[:, None, :].to(dtype or torch.float32)

    with mock.patch.object(torch, "randn", randn):
        yield


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """Encode then decode the codes with `snac`, hooks on every tapped module; quantized latents recorded too."""
    import torch

    model = load_reference(folder)
    x = torch.from_numpy(inputs["audio"])[None, None]

    def run():
        codes = model.encode(x)
        quantized = model.quantizer.from_codes(codes)
        with seeded_torch_noise(_seed(inputs)):
            audio = model.decode(codes)
        return codes, quantized, audio

    acts, (codes, quantized, audio) = capture_reference(model, tap_points(folder), run)
    acts["quantizer"] = quantized.numpy()
    out = {f"codes.{k}": c[0].numpy() for k, c in enumerate(codes)}
    return acts, {**out, "audio": audio[0, 0].numpy()}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    """The port on the same inputs, taps on: codes, then audio from those codes with the same noise."""
    from ....taps import capture
    from .load import load_model

    model = load_model(folder)
    with capture() as acts:
        codes = model.encode(inputs["audio"])
        audio = model.decode(codes, seed=_seed(inputs))
    out = {f"codes.{k}": c for k, c in enumerate(codes)}
    return {k: np.array(v) for k, v in acts.items()}, {**out, "audio": audio}


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Codes identical at every scale (and varied), decoded audio within 1e-4."""
    from ....parity import sig1

    keys = sorted((k for k in ref_out if k.startswith("codes.")), key=lambda k: int(k.split(".")[1]))
    same, mismatches, shapes = True, 0, []
    for k in keys:
        a, b = np.asarray(mlx_out.get(k, [])), np.asarray(ref_out[k])
        shapes.append(str(b.shape[-1]))
        if a.shape != b.shape:
            same, mismatches = False, mismatches + b.size
        else:
            same, mismatches = same and bool((a == b).all()), mismatches + int((a != b).sum())
    distinct = len(np.unique(ref_out[keys[0]])) if keys else 0
    a, b = np.asarray(mlx_out["audio"]), np.asarray(ref_out["audio"])
    err = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
    note = (f"codes {'identical' if same else f'differ at {mismatches}'} ({len(keys)} scales x "
            f"{'/'.join(shapes)} frames, {distinct} distinct in codebook 0); audio max_abs {sig1(err)}")
    return same and distinct >= 2 and err <= 1e-4, note
