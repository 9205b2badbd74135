"""The PyTorch side of Mimi: transformers' MimiModel, its fixture and the tap map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....parity import TapPoint
from ....parity.inputs import spoken_or_noise
from ....parity.outputs import codes_and_audio_match as outputs_match  # noqa: F401
from ..reference import capture_reference, from_pretrained_quietly

# Fixture sizes: kyutai/mimi's layout (strides 8-6-5-4 then 2: 1920 samples a frame), tiny widths; a short
# sliding window so a 3 s clip (75 transformer steps) runs past it.
SIZES = {
    "tiny": dict(hidden_size=32, num_filters=4, codebook_size=64, codebook_dim=16,
                 vector_quantization_hidden_dimension=16, num_quantizers=4, num_semantic_quantizers=1,
                 upsample_groups=32, num_hidden_layers=2, intermediate_size=64, num_attention_heads=4,
                 num_key_value_heads=4, sliding_window=8, max_position_embeddings=512),
}
_ROPE_BUFFERS = ("inv_freq", "original_inv_freq")


def _config(folder: Path):
    from .config import MimiConfig

    return MimiConfig.from_dict(json.loads((Path(folder) / "config.json").read_text()))


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of transformers' MimiModel (or a value run_reference records), in forward order."""
    return tap_points_for(_config(folder))


def tap_points_for(cfg) -> list[TapPoint]:
    """`tap_points` of a MimiConfig (also used by ports holding a Mimi inside, e.g. CSM's `codec_model`)."""
    from .model import Mimi

    model = Mimi(cfg)

    def seanet(part: str, ref: str) -> list[TapPoint]:
        return [TapPoint(f"{part}.layers.{i}", f"{ref}.layers.{i}", layout="channels_first")
                for i, layer in enumerate(getattr(model, part).layers) if type(layer).__name__ != "ELU"]

    def transformer(part: str, ref: str) -> list[TapPoint]:
        rows = [TapPoint(f"{part}.layers.{i}", f"{ref}.layers.{i}") for i in range(cfg.num_hidden_layers)]
        return rows + [TapPoint(part, ref)]

    return (seanet("encoder", "encoder.encoder_seanet")
            + transformer("encoder_transformer", "encoder.encoder_transformer")
            + [TapPoint("downsample", "encoder.downsample", layout="channels_first"),
               TapPoint("quantizer", "quantizer", layout="channels_first"),
               TapPoint("upsample", "decoder.upsample", layout="channels_first")]
            + transformer("decoder_transformer", "decoder.decoder_transformer")
            + seanet("decoder", "decoder.decoder_seanet")
            + [TapPoint("decoder.output", "decoder.output", layout="channels_first")])


def _probe(sr: int, g) -> object:
    import torch

    t = torch.arange(sr * 4) / sr
    return torch.sin(2 * torch.pi * (150 + 300 * t) * t) * 0.3 + 0.1 * torch.randn(t.shape, generator=g)


def _fill_codebooks(model, seed: int) -> None:
    """Seeded codebooks near the latents each stage sees (half their spread, so speech uses many codes),
    stored as (embed_sum, cluster_usage) pairs.

    Usages vary in [0.5, 10.5); entry 0 of each codebook has usage 0, so the 1e-5 clamp is exercised.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        latents = model.encoder(_probe(model.config.sampling_rate, g)[None, None].float()).latents  # (1, D, T)
        for rvq in (model.quantizer.semantic_residual_vector_quantizer,
                    model.quantizer.acoustic_residual_vector_quantizer):
            residual = rvq.input_proj(latents) if rvq.input_proj is not None else latents
            for layer in rvq.layers:
                cb = layer.codebook
                flat = residual[0].T  # (frames, dim)
                embed = flat.mean(0) + 0.5 * flat.std(0) * torch.randn(cb.embed_sum.shape, generator=g)
                usage = 0.5 + 10 * torch.rand(cb.cluster_usage.shape, generator=g)
                usage[0] = 0.0
                cb.cluster_usage.copy_(usage)
                cb.embed_sum.copy_(embed * usage.clamp(min=1e-5)[:, None])
                cb.initialized.fill_(1.0)
                cb._embed = None  # transformers caches the codewords on first use
                residual = residual - layer.decode(layer.encode(residual))


def seeded_model(**sizes):
    """A seeded random transformers MimiModel (kyutai/mimi's strides, the given sizes) with filled codebooks.

    Also the codec inside other fixtures (CSM), so every port decodes with the same recipe.
    """
    import torch
    from transformers import MimiConfig, MimiModel

    from ....fixtures import randomize_

    torch.manual_seed(0)
    model = MimiModel(MimiConfig(sampling_rate=24_000, upsampling_ratios=[8, 6, 5, 4], **sizes)).eval()
    keep = tuple(n for n, _ in model.named_buffers() if n.endswith(_ROPE_BUFFERS))
    randomize_(model, seed=0, std=0.1, keep=keep)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # convs that keep the signal's scale; layer scales large enough to matter
        for name, p in model.named_parameters():
            if name.endswith("conv.weight"):
                transposed = name.startswith("decoder.upsample") or (
                    name.startswith("decoder.decoder_seanet") and p.shape[-1] > 3 and "block" not in name)
                fan_in = 2 * p.shape[0] // p.shape[1] if transposed and "upsample" in name else (
                    2 * p.shape[0] if transposed else p.shape[1] * p.shape[2])
                p.copy_(torch.randn(p.shape, generator=g) / max(fan_in, 1) ** 0.5)
            elif name.endswith("layer_scale.scale"):
                p.copy_(0.3 + 0.1 * torch.randn(p.shape, generator=g))
    _fill_codebooks(model, seed=2)
    return model


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a seeded random MimiModel in the Hugging Face (kyutai/mimi) layout."""
    seeded_model(**SIZES[size]).save_pretrained(folder, safe_serialization=True)


def parity_inputs(folder: Path, clip: str = "harbor") -> dict[str, np.ndarray]:
    """A spoken clip at the model's rate (seeded noise if espeak-ng is missing) and all quantizers."""
    cfg = _config(folder)
    audio = spoken_or_noise(clip, cfg.sampling_rate)
    return {"audio": audio.astype(np.float32), "num_quantizers": np.array(cfg.num_quantizers, np.int64)}


def load_reference(folder: Path):
    """transformers' model with the folder's weights, fp32, eval mode, eager attention."""
    from transformers import MimiModel

    return from_pretrained_quietly(MimiModel, folder, attn_implementation="eager")


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """Encode then decode with transformers, hooks on every tapped module; quantized latents recorded too."""
    import torch

    model = load_reference(folder)
    x = torch.from_numpy(inputs["audio"])[None, None]
    n_q = int(np.asarray(inputs["num_quantizers"]).item())

    def run():
        codes = model.encode(x, num_quantizers=n_q).audio_codes  # (B, K, T)
        quantized = model.quantizer.decode(codes)
        audio = model.decode(codes).audio_values
        return codes[0], quantized, audio

    acts, (codes, quantized, audio) = capture_reference(model, tap_points(folder), run)
    acts["quantizer"] = quantized.numpy()
    acts["decoder.output"] = audio.numpy()
    return acts, {"codes": codes.numpy(), "audio": audio[0, 0].numpy()}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    """The port on the same inputs, taps on: codes, then audio from those codes."""
    from ....taps import capture
    from .load import load_model

    model = load_model(folder)
    with capture() as acts:
        codes = model.encode(inputs["audio"], num_quantizers=int(np.asarray(inputs["num_quantizers"]).item()))
        audio = model.decode(codes)
    return {k: np.array(v) for k, v in acts.items()}, {"codes": codes, "audio": audio}
