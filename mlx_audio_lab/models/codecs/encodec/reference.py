"""The PyTorch side of EnCodec: transformers' EncodecModel, its fixture and the tap map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....parity import TapPoint
from ....parity.inputs import spoken_or_noise
from ....parity.outputs import codes_and_audio_match
from ..reference import capture_reference, from_pretrained_quietly

# Fixture sizes, tiny widths in the real layouts (strides 8-5-4-2, 2 LSTM layers, reflect padding):
# "tiny" as encodec_24khz (mono, causal weight-normed convs, whole clip at once), "48khz" as encodec_48khz
# (stereo, non-causal convs with GroupNorm, 1 s chunks overlapping by 1 %, each normalized by its RMS).
_TINY = dict(upsampling_ratios=[8, 5, 4, 2], num_lstm_layers=2, pad_mode="reflect", num_filters=4, hidden_size=16,
             codebook_size=64)
SIZES = {
    "tiny": dict(_TINY, sampling_rate=24_000, use_causal_conv=True, target_bandwidths=[0.9, 1.8]),
    "48khz": dict(_TINY, sampling_rate=48_000, audio_channels=2, normalize=True, chunk_length_s=1.0, overlap=0.01,
                  use_causal_conv=False, norm_type="time_group_norm", target_bandwidths=[1.8, 3.6]),
}


def _config(folder: Path):
    from .config import EncodecConfig

    return EncodecConfig.from_dict(json.loads((Path(folder) / "config.json").read_text()))


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of transformers' model (or a value run_reference records), in forward order."""
    return tap_points_for(_config(folder))


def tap_points_for(config) -> list[TapPoint]:
    """The tap map of an EnCodec of this config (an EncodecConfig); also what Bark's codec side uses."""
    from .model import Encodec

    model = Encodec(config)
    names = [f"{part}.layers.{i}" for part in ("encoder", "decoder")
             for i, layer in enumerate(getattr(model, part).layers) if type(layer).__name__ != "ELU"]
    n_enc = sum(n.startswith("encoder") for n in names)
    points = [TapPoint("scales", "scales")] if model.config.normalize else []
    points += [TapPoint(n, n, layout="channels_first") for n in names[:n_enc]]
    points.append(TapPoint("quantizer", "quantizer", layout="channels_first"))
    points += [TapPoint(n, n, layout="channels_first") for n in names[n_enc:]]
    points.append(TapPoint("decoder.output", "decoder.output", layout="channels_first"))
    return points


def _fill_codebooks(model, seed: int) -> None:
    """Seeded random codebooks (and statistics) spread like the latents each stage sees, so codes vary."""
    import torch

    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(cfg.sampling_rate * 2) / cfg.sampling_rate
    probe = torch.sin(2 * torch.pi * (200 + 400 * t) * t) * 0.3 + 0.1 * torch.randn(t.shape, generator=g)
    probe = torch.stack([probe * (1 - 0.3 * c) for c in range(cfg.audio_channels)])[None]  # (1, channels, T)
    if cfg.normalize:  # the encoder sees chunks divided by their RMS
        probe = probe / probe.mean(1).pow(2).mean().sqrt()
    with torch.no_grad():
        residual = model.encoder(probe.float())  # (1, D, frames)
        for layer in model.quantizer.layers:
            cb = layer.codebook
            flat = residual[0].T  # (frames, D)
            cb.embed.copy_(flat.mean(0) + flat.std(0) * torch.randn(cb.embed.shape, generator=g))
            cb.embed_avg.copy_(cb.embed * (1 + 0.1 * torch.randn(cb.embed.shape, generator=g)))
            cb.cluster_size.copy_(torch.rand(cb.cluster_size.shape, generator=g) * 10)
            cb.inited.copy_(torch.ones_like(cb.inited) + 0.01 * torch.randn(cb.inited.shape, generator=g))
            residual = residual - layer.decode(layer.encode(residual))


def seeded_model(lstm_scale: float = 1.0, **config):
    """A seeded random transformers EncodecModel of `config` (EncodecConfig keywords): random weights, weight-norm
    gains near 1 and codebooks spread like the latents (so codes vary); also what Bark's fixture decodes with.
    `lstm_scale` multiplies the LSTM weights (a wide LSTM with std-0.1 weights is chaotic: rounding grows)."""
    import torch
    from transformers import EncodecConfig, EncodecModel

    from ....fixtures import randomize_

    torch.manual_seed(0)
    model = EncodecModel(EncodecConfig(**config)).eval()
    randomize_(model, seed=0, std=0.1)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # weight-norm gains near 1: each conv keeps the signal's scale
        for name, p in model.named_parameters():
            if name.endswith("parametrizations.weight.original0"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif ".lstm.weight" in name:
                p.mul_(lstm_scale)
    _fill_codebooks(model, seed=2)
    return model


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a seeded random EncodecModel (plus its feature extractor config) in the Hugging Face layout."""
    from transformers import EncodecFeatureExtractor

    if size not in SIZES:
        raise ValueError(f"unknown EnCodec fixture size {size!r}; sizes: {', '.join(SIZES)}")
    model = seeded_model(**SIZES[size])
    config = model.config
    model.save_pretrained(folder, safe_serialization=True)
    EncodecFeatureExtractor(feature_size=config.audio_channels, sampling_rate=config.sampling_rate,
                            chunk_length_s=config.chunk_length_s, overlap=config.overlap).save_pretrained(folder)


def stereo(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    """(T,) -> (T, 2): the left channel as is, the right at 0.6 x and 1 ms later (the channels differ)."""
    delay = sample_rate // 1000
    right = 0.6 * np.concatenate([np.zeros(delay, np.float32), mono[:-delay]])
    return np.stack([mono, right], axis=1).astype(np.float32)


def parity_inputs(folder: Path, clip: str = "harbor") -> dict[str, np.ndarray]:
    """A spoken clip at the model's rate, (T, 2) for a stereo model (seeded noise if espeak-ng is missing),
    and the largest bandwidth."""
    cfg = _config(folder)
    audio = spoken_or_noise(clip, cfg.sampling_rate)
    if cfg.audio_channels == 2:
        audio = stereo(audio, cfg.sampling_rate)
    elif cfg.audio_channels != 1:
        raise NotImplementedError(f"parity inputs for {cfg.audio_channels} channels")
    return {"audio": audio.astype(np.float32), "bandwidth": np.array(cfg.target_bandwidths[-1], np.float64)}


def load_reference(folder: Path):
    """transformers' model with the folder's weights, fp32, eval mode."""
    from transformers import EncodecModel

    return from_pretrained_quietly(EncodecModel, folder)


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """Encode then decode with transformers, hooks on every tapped module; the quantized latents (first chunk)
    and, for a normalizing model, the chunk scales recorded too."""
    import torch

    model = load_reference(folder)
    audio_in = inputs["audio"]
    x = torch.from_numpy(np.ascontiguousarray(audio_in.T if audio_in.ndim == 2 else audio_in[None]))[None]
    bandwidth = float(np.asarray(inputs["bandwidth"]).item())

    def run():
        enc = model.encode(x, bandwidth=bandwidth, return_dict=True)
        quantized = model.quantizer.decode(enc.audio_codes[0].transpose(0, 1))
        audio = model.decode(enc.audio_codes, enc.audio_scales, return_dict=True,
                             last_frame_pad_length=enc.last_frame_pad_length).audio_values
        return enc, quantized, audio

    acts, (enc, quantized, audio) = capture_reference(model, tap_points(folder), run)
    acts["quantizer"] = quantized.numpy()
    acts["decoder.output"] = audio.numpy()
    wave = audio[0].numpy().T  # (T, channels)
    out = {"audio": wave[:, 0] if wave.shape[1] == 1 else wave}
    if model.config.chunk_length is None and not model.config.normalize:
        out["codes"] = enc.audio_codes[0, 0].numpy()
        return acts, out
    out["codes"] = enc.audio_codes[:, 0].numpy()  # (chunks, n_q, frames)
    out["padding"] = np.array(enc.last_frame_pad_length, np.int64)
    if enc.audio_scales[0] is not None:
        acts["scales"] = torch.stack(enc.audio_scales).reshape(len(enc.audio_scales), -1).numpy()
        out["scales"] = acts["scales"][:, 0]
    return acts, out


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    """The port on the same inputs, taps on: codes, then audio from those codes."""
    from ....taps import capture
    from .chunks import EncodecChunks
    from .load import load_model

    model = load_model(folder)
    with capture() as acts:
        codes = model.encode(inputs["audio"], bandwidth=float(np.asarray(inputs["bandwidth"]).item()))
        audio = model.decode(codes)
    out = codes.to_arrays() if isinstance(codes, EncodecChunks) else {"codes": codes}
    return {k: np.array(v) for k, v in acts.items()}, {**out, "audio": audio}


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Codes identical, audio within 1e-4; chunked models: the chunks' codes side by side (codebooks x all
    frames), the same last-chunk padding, and scales within 1e-6 relative."""
    from ....parity import sig1

    if np.ndim(ref_out["codes"]) == 2:
        return codes_and_audio_match(mlx_out, ref_out)
    side_by_side = {k: np.concatenate(list(np.asarray(d["codes"])), axis=-1) for k, d in
                    (("mlx", mlx_out), ("ref", ref_out))}
    ok, note = codes_and_audio_match({**mlx_out, "codes": side_by_side["mlx"]},
                                     {**ref_out, "codes": side_by_side["ref"]})
    chunks = np.shape(ref_out["codes"])[0]
    same_pad = int(np.asarray(mlx_out["padding"])) == int(np.asarray(ref_out["padding"]))
    note += f"; {chunks} chunks, last padded {int(np.asarray(ref_out['padding']))} frames"
    ok = ok and same_pad and np.shape(mlx_out["codes"]) == np.shape(ref_out["codes"])
    if "scales" in ref_out or "scales" in mlx_out:
        if "scales" not in ref_out or "scales" not in mlx_out:
            return False, note + "; scales on one side only"
        a, b = np.asarray(mlx_out["scales"], np.float64), np.asarray(ref_out["scales"], np.float64)
        rel = float(np.abs(a - b).max() / np.abs(b).max()) if a.shape == b.shape else float("inf")
        note += f"; scales rel_err {sig1(rel)}"
        ok = ok and rel <= 1e-6
    return ok, note
