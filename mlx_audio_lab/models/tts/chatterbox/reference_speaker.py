"""The PyTorch side of the speaker encoders: the package's VoiceEncoder (real size, seeded), taps, its run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .reference_s3gen import TapPoint, stub_perth
from .voice_encoder import SAMPLE_RATE


def build_voice_encoder():
    """The package's VoiceEncoder at its real (small) size, torch's seeded initialisation."""
    import torch

    stub_perth()
    from chatterbox.models.voice_encoder import VoiceEncoder

    torch.manual_seed(4)
    return VoiceEncoder().eval()


def load_ve_reference(folder: Path):
    from safetensors.torch import load_file

    model = build_voice_encoder()
    model.load_state_dict(load_file(str(Path(folder) / "ve.safetensors")), strict=True)
    return model.float().eval()


def ve_tap_points() -> list[TapPoint]:
    return [TapPoint("ve.windows", "ve.windows"), TapPoint("ve.embedding", "ve.embedding")]


def run_ve_reference(model, wav_16k: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """`embeds_from_wavs` (trim 20 dB, rate 1.3) as ChatterboxTTS calls it; per-window embeddings recorded."""
    import torch

    windows = []
    hook = model.register_forward_hook(lambda _m, _i, out: windows.append(out.detach().clone()))
    try:
        with torch.no_grad():
            embed = model.embeds_from_wavs([wav_16k], sample_rate=SAMPLE_RATE)
    finally:
        hook.remove()
    speaker = embed.mean(axis=0, keepdims=True).astype(np.float32)
    return {"ve.windows": torch.cat(windows).numpy(), "ve.embedding": speaker}, speaker
