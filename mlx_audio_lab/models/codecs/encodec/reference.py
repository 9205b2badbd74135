"""The PyTorch side of EnCodec: transformers' EncodecModel, its fixture and the tap map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....parity import TapPoint
from ....parity.outputs import codes_and_audio_match as outputs_match  # noqa: F401

# Fixture sizes: encodec_24khz's layout (strides 8-5-4-2, 2 LSTM layers, causal reflect convs), tiny widths.
SIZES = {
    "tiny": dict(num_filters=4, hidden_size=16, codebook_size=64, target_bandwidths=[0.9, 1.8]),
}


def _config(folder: Path):
    from .config import EncodecConfig

    return EncodecConfig.from_dict(json.loads((Path(folder) / "config.json").read_text()))


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of transformers' model (or a value run_reference records), in forward order."""
    from .model import Encodec

    model = Encodec(_config(folder))
    names = [f"{part}.layers.{i}" for part in ("encoder", "decoder")
             for i, layer in enumerate(getattr(model, part).layers) if type(layer).__name__ != "ELU"]
    n_enc = sum(n.startswith("encoder") for n in names)
    points = [TapPoint(n, n, layout="channels_first") for n in names[:n_enc]]
    points.append(TapPoint("quantizer", "quantizer", layout="channels_first"))
    points += [TapPoint(n, n, layout="channels_first") for n in names[n_enc:]]
    points.append(TapPoint("decoder.output", "decoder.output", layout="channels_first"))
    return points


def _fill_codebooks(model, seed: int) -> None:
    """Seeded random codebooks (and statistics) spread like the latents each stage sees, so codes vary."""
    import torch

    g = torch.Generator().manual_seed(seed)
    t = torch.arange(model.config.sampling_rate * 2) / model.config.sampling_rate
    probe = torch.sin(2 * torch.pi * (200 + 400 * t) * t) * 0.3 + 0.1 * torch.randn(t.shape, generator=g)
    with torch.no_grad():
        residual = model.encoder(probe[None, None].float())  # (1, D, frames)
        for layer in model.quantizer.layers:
            cb = layer.codebook
            flat = residual[0].T  # (frames, D)
            cb.embed.copy_(flat.mean(0) + flat.std(0) * torch.randn(cb.embed.shape, generator=g))
            cb.embed_avg.copy_(cb.embed * (1 + 0.1 * torch.randn(cb.embed.shape, generator=g)))
            cb.cluster_size.copy_(torch.rand(cb.cluster_size.shape, generator=g) * 10)
            cb.inited.copy_(torch.ones_like(cb.inited) + 0.01 * torch.randn(cb.inited.shape, generator=g))
            residual = residual - layer.decode(layer.encode(residual))


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a seeded random EncodecModel (plus its feature extractor config) in the Hugging Face layout."""
    import torch
    from transformers import EncodecConfig, EncodecFeatureExtractor, EncodecModel

    from ....fixtures import randomize_

    torch.manual_seed(0)
    config = EncodecConfig(sampling_rate=24_000, upsampling_ratios=[8, 5, 4, 2], num_lstm_layers=2,
                           use_causal_conv=True, pad_mode="reflect", **SIZES[size])
    model = EncodecModel(config).eval()
    randomize_(model, seed=0, std=0.1)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # weight-norm gains near 1: each conv keeps the signal's scale
        for name, p in model.named_parameters():
            if name.endswith("parametrizations.weight.original0"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
    _fill_codebooks(model, seed=2)
    model.save_pretrained(folder, safe_serialization=True)
    EncodecFeatureExtractor(feature_size=1, sampling_rate=24_000).save_pretrained(folder)


def parity_inputs(folder: Path, clip: str = "harbor") -> dict[str, np.ndarray]:
    """A spoken clip at the model's rate (seeded noise if espeak-ng is missing) and the largest bandwidth."""
    from ....fixtures import speech

    cfg = _config(folder)
    if speech.espeak_available():
        audio = speech.speech(clip, cfg.sampling_rate)
    else:
        audio = (np.random.default_rng(0).standard_normal(cfg.sampling_rate * 3) * 0.1).astype(np.float32)
    return {"audio": audio.astype(np.float32), "bandwidth": np.array(cfg.target_bandwidths[-1], np.float64)}


def load_reference(folder: Path):
    """transformers' model with the folder's weights, fp32, eval mode."""
    from transformers import EncodecModel
    from transformers.utils import logging

    bar = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # no "Loading weights" bar in notebook outputs
    try:
        return EncodecModel.from_pretrained(folder, dtype="float32").eval()
    finally:
        if bar:
            logging.enable_progress_bar()


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """Encode then decode with transformers, hooks on every tapped module; the quantized latents recorded too."""
    import torch

    from ....parity.torch_hooks import capture_torch

    model = load_reference(folder)
    x = torch.from_numpy(inputs["audio"])[None, None]
    bandwidth = float(np.asarray(inputs["bandwidth"]).item())
    modules = dict(model.named_modules())
    paths = [p.ref for p in tap_points(folder) if p.ref in modules]

    def run():
        enc = model.encode(x, bandwidth=bandwidth, return_dict=True)
        quantized = model.quantizer.decode(enc.audio_codes[0].transpose(0, 1))
        audio = model.decode(enc.audio_codes, enc.audio_scales, return_dict=True).audio_values
        return enc.audio_codes[0, 0], quantized, audio

    acts, (codes, quantized, audio) = capture_torch(model, paths, run)
    acts["quantizer"] = quantized.numpy()
    acts["decoder.output"] = audio.numpy()
    return acts, {"codes": codes.numpy(), "audio": audio[0, 0].numpy()}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    """The port on the same inputs, taps on: codes, then audio from those codes."""
    from ....parity.taps import capture
    from .load import load_model

    model = load_model(folder)
    with capture() as acts:
        codes = model.encode(inputs["audio"], bandwidth=float(np.asarray(inputs["bandwidth"]).item()))
        audio = model.decode(codes)
    return {k: np.array(v) for k, v in acts.items()}, {"codes": codes, "audio": audio}
