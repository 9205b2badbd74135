"""The PyTorch side of BigVGAN: the `bigvgan` package's generator (torch anti-aliasing, `use_cuda_kernel=False`),
its fixtures in the hub layout (config.json + bigvgan_generator.pt holding `{"generator": state_dict}`), its mel
front end and the tap map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....parity import TapPoint
from ....parity.inputs import spoken_or_noise
from ..common import capture_reference

# The config.json of nvidia/bigvgan_v2_24khz_100band_256x (NVIDIA/BigVGAN v2.4, configs/, as the hub repo ships
# it); nvidia/bigvgan_v2_22khz_80band_256x differs only in num_mels (80) and sampling_rate (22050).
V2_24KHZ_100BAND = {
    "resblock": "1", "num_gpus": 0, "batch_size": 4, "learning_rate": 0.0001, "adam_b1": 0.8, "adam_b2": 0.99,
    "lr_decay": 0.9999996, "seed": 1234,
    "upsample_rates": [4, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4],
    "upsample_initial_channel": 1536, "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "use_tanh_at_final": False, "use_bias_at_final": False, "activation": "snakebeta", "snake_logscale": True,
    "use_cqtd_instead_of_mrd": True, "cqtd_filters": 128, "cqtd_max_filters": 1024, "cqtd_filters_scale": 1,
    "cqtd_dilations": [1, 2, 4], "cqtd_hop_lengths": [512, 256, 256], "cqtd_n_octaves": [9, 9, 9],
    "cqtd_bins_per_octaves": [24, 36, 48], "mpd_reshapes": [2, 3, 5, 7, 11], "use_spectral_norm": False,
    "discriminator_channel_mult": 1, "use_multiscale_melloss": True, "lambda_melloss": 15, "clip_grad_norm": 500,
    "segment_size": 65536, "num_mels": 100, "num_freq": 1025, "n_fft": 1024, "hop_size": 256, "win_size": 1024,
    "sampling_rate": 24000, "fmin": 0, "fmax": None, "fmax_for_loss": None, "num_workers": 4,
    "dist_config": {"dist_backend": "nccl", "dist_url": "tcp://localhost:54321", "world_size": 1},
}
V2_22KHZ_80BAND = {**V2_24KHZ_100BAND, "num_mels": 80, "sampling_rate": 22050}

# Fixture sizes: the real configs' strides (hop 256), kernels, dilations and audio settings, 128 initial channels
# (64 .. 2 over the six stages). "tiny_snake" is no released config: the other code paths (Snake, AMPBlock2,
# linear-scale alpha, tanh, conv_post bias) on the 22 kHz schema.
_TINY = {"upsample_initial_channel": 128}
SIZES = {
    "tiny": {**V2_24KHZ_100BAND, **_TINY},
    "tiny_22khz": {**V2_22KHZ_80BAND, **_TINY},
    "tiny_snake": {**V2_22KHZ_80BAND, **_TINY, "activation": "snake", "resblock": "2", "snake_logscale": False,
                   "use_tanh_at_final": True, "use_bias_at_final": True},
}
WEIGHTS = "bigvgan_generator.pt"
# Parity runs the first 128 mel frames (~1.4 s): the fixture's last stages push ~33k samples per second of audio
# through 18 AMP blocks at twice the rate, and the torch reference needs several seconds per second on this CPU.
PARITY_FRAMES = 128


def _config(folder: Path) -> dict:
    return json.loads((Path(folder) / "config.json").read_text())


def import_bigvgan():
    """The `bigvgan` package, imported without letting it switch matplotlib to Agg (its `utils` calls
    `matplotlib.use("Agg")` at import, which would blank a notebook's inline figures)."""
    import importlib
    import sys
    from unittest import mock

    if "bigvgan" in sys.modules:
        return sys.modules["bigvgan"]
    import matplotlib

    with mock.patch.object(matplotlib, "use", lambda *args, **kwargs: None):
        return importlib.import_module("bigvgan")


def _hparams(config: dict):
    import_bigvgan()
    from bigvgan.env import AttrDict

    return AttrDict(dict(config))


def generator_from_config(config: dict):
    """`bigvgan.BigVGAN` of a config with the torch anti-aliasing (no CUDA kernel); torch's notice that the old
    `weight_norm` (what the hub checkpoints hold) is deprecated is silenced."""
    import warnings

    BigVGAN = import_bigvgan().BigVGAN
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*weight_norm.*")
        return BigVGAN(_hparams(config), use_cuda_kernel=False)


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of the `bigvgan` generator (same paths), in forward order."""
    cfg = _config(folder)
    n = len(cfg["resblock_kernel_sizes"])
    names = ["conv_pre"]
    for i in range(len(cfg["upsample_rates"])):
        names += [f"ups.{i}.0"] + [f"resblocks.{i * n + j}" for j in range(n)]
    names += ["activation_post", "conv_post"]
    return [TapPoint(m, m, layout="channels_first") for m in names]


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a seeded random `bigvgan.BigVGAN` as the hub repos are laid out: config.json + bigvgan_generator.pt
    (`{"generator": state_dict}`, weight norm kept as `weight_g` / `weight_v`)."""
    import torch

    from ....fixtures import randomize_

    config = SIZES[size]
    torch.manual_seed(0)
    model = generator_from_config(config).eval()
    keep = tuple(n for n, _ in model.named_buffers() if n.endswith("filter"))  # the low-pass taps stay real
    randomize_(model, seed=0, std=0.1, keep=keep)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):  # gains keep each conv's output O(1); residual branches smaller
                scale = 0.5 if name.startswith("resblocks.") else 1.0
                p.copy_(scale * (1.0 + 0.2 * torch.randn(p.shape, generator=g)))
            elif name.endswith((".alpha", ".beta")):  # frequencies spread over ~0.4 .. 3 (log scale: its log)
                a = torch.exp(0.5 * torch.randn(p.shape, generator=g))
                p.copy_(torch.log(a) if config["snake_logscale"] else a)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=4))
    torch.save({"generator": model.state_dict()}, folder / WEIGHTS)


def load_reference(folder: Path):
    """`bigvgan.BigVGAN` built from the folder's config with its weights (weights_only load), fp32, eval mode."""
    import torch

    folder = Path(folder)
    model = generator_from_config(_config(folder))
    state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict(state["generator"])
    return model.float().eval()


def reference_mel(folder: Path | dict, audio: np.ndarray) -> np.ndarray:
    """The log-mel (n_mels, frames) of mono audio by the package's `get_mel_spectrogram` with the config's settings
    (Slaney mel filters, |STFT| of a reflect-padded, uncentred Hann STFT, log clamped at 1e-5)."""
    import torch

    get_mel_spectrogram = import_bigvgan().meldataset.get_mel_spectrogram

    config = folder if isinstance(folder, dict) else _config(folder)
    with torch.no_grad():
        mel = get_mel_spectrogram(torch.from_numpy(np.asarray(audio, np.float32))[None], _hparams(config))
    return mel[0].numpy()


def parity_inputs(folder: Path, clip: str = "harbor") -> dict[str, np.ndarray]:
    """The reference's log-mel of a spoken clip (seeded noise if espeak-ng is missing) at the model's rate, its
    first `PARITY_FRAMES` frames."""
    sr = _config(folder)["sampling_rate"]
    return {"mel": np.ascontiguousarray(reference_mel(folder, spoken_or_noise(clip, sr))[:, :PARITY_FRAMES])}


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """The generator on the mel, hooks on every tapped module."""
    import torch

    model = load_reference(folder)
    mel = torch.from_numpy(inputs["mel"])[None]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ~200 small convs: on a loaded CPU, torch's thread pool spins (20x slower seen)
    try:
        acts, audio = capture_reference(model, tap_points(folder), lambda: model(mel))
    finally:
        torch.set_num_threads(threads)
    return acts, {"audio": audio[0, 0].numpy()}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    """The port on the same mel, taps on."""
    from ....taps import capture
    from .load import load_model

    model = load_model(folder)
    with capture() as acts:
        audio = model.decode(inputs["mel"])
    return {k: np.array(v) for k, v in acts.items()}, {"audio": audio}


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Waveform within 1e-4 of the reference's, and not silence."""
    from ....parity import sig1

    a, b = np.asarray(mlx_out["audio"]), np.asarray(ref_out["audio"])
    err = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
    note = f"audio {b.shape[-1]} samples, max_abs {sig1(err)}, reference std {sig1(float(b.std()))}"
    return err <= 1e-4 and float(b.std()) > 1e-3, note
