"""Stand-ins for the two imports of the `vocos` package that cannot be installed here (test helper).

`vocos` imports `torchaudio` (its MelSpectrogram; mel helpers) and `encodec` (EncodecModel). torchaudio 2.11
from PyPI is a CUDA build that fails to import next to torch 2.13 CPU, and `encodec` downloads its weights.
`import_vocos()` puts minimal modules under those names into `sys.modules` (only if the real ones do not import),
so the upstream `vocos` classes run unchanged:
- `torchaudio.transforms.MelSpectrogram`: torchaudio's algorithm re-written in torch (torch.stft, magnitude
  to `power`, HTK triangular filter bank without norm), with torchaudio's buffer names
  (`spectrogram.window`, `mel_scale.fb`) so a state dict has the upstream keys.
- `encodec.EncodecModel.encodec_model_24khz`: the interface vocos' `EncodecFeatures` uses (`encoder`,
  `quantizer.encode` / `.vq.layers[k].codebook` / `.bins`, `set_target_bandwidth`, `frame_rate`) over
  transformers' `EncodecModel` (the same SEANet encoder and residual quantizer, ported from `encodec`), loaded
  from the Hugging Face layout folder given to `encodec_from(folder)`.
"""

from __future__ import annotations

import importlib
import math
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The Hugging Face layout EnCodec folder that the stand-in `EncodecModel.encodec_model_24khz()` loads.
_ENCODEC_FOLDER: Path | None = None


@contextmanager
def encodec_from(folder: str | Path) -> Iterator[None]:
    """While open, the stand-in `encodec` package's 24 kHz model is transformers' EncodecModel from `folder`."""
    global _ENCODEC_FOLDER
    prev, _ENCODEC_FOLDER = _ENCODEC_FOLDER, Path(folder)
    try:
        yield
    finally:
        _ENCODEC_FOLDER = prev


def _hz_to_mel(freq: float, mel_scale: str = "htk") -> float:
    if mel_scale != "htk":
        raise NotImplementedError("shim: only the HTK mel scale")
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def _mel_to_hz(mels, mel_scale: str = "htk"):
    if mel_scale != "htk":
        raise NotImplementedError("shim: only the HTK mel scale")
    return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)


def _torchaudio() -> types.ModuleType:
    import torch
    from torch import nn

    def melscale_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int):
        all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
        m_pts = torch.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
        f_pts = _mel_to_hz(m_pts)
        f_diff = f_pts[1:] - f_pts[:-1]
        slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
        down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
        up = slopes[:, 2:] / f_diff[1:]
        return torch.max(torch.zeros(1), torch.min(down, up))  # (n_freqs, n_mels)

    class Spectrogram(nn.Module):
        def __init__(self, n_fft: int, win_length: int, hop_length: int, power: float, center: bool,
                     pad_mode: str = "reflect"):
            super().__init__()
            self.n_fft, self.win_length, self.hop_length = n_fft, win_length, hop_length
            self.power, self.center, self.pad_mode = power, center, pad_mode
            self.register_buffer("window", torch.hann_window(win_length))

        def forward(self, x):
            shape = x.shape
            spec = torch.stft(x.reshape(-1, shape[-1]), self.n_fft, self.hop_length, self.win_length,
                              self.window, center=self.center, pad_mode=self.pad_mode, normalized=False,
                              onesided=True, return_complex=True)
            spec = spec.reshape(shape[:-1] + spec.shape[-2:]).abs()
            return spec if self.power == 1.0 else spec.pow(self.power)

    class MelScale(nn.Module):
        def __init__(self, n_mels: int, sample_rate: int, f_min: float, f_max: float | None, n_stft: int):
            super().__init__()
            f_max = f_max if f_max is not None else float(sample_rate // 2)
            self.register_buffer("fb", melscale_fbanks(n_stft, f_min, f_max, n_mels, sample_rate))

        def forward(self, spec):
            return torch.matmul(spec.transpose(-1, -2), self.fb).transpose(-1, -2)

    class MelSpectrogram(nn.Module):
        def __init__(self, sample_rate: int = 16000, n_fft: int = 400, win_length: int | None = None,
                     hop_length: int | None = None, f_min: float = 0.0, f_max: float | None = None,
                     n_mels: int = 128, power: float = 2.0, center: bool = True, pad_mode: str = "reflect",
                     norm: str | None = None, mel_scale: str = "htk"):
            super().__init__()
            if norm is not None or mel_scale != "htk":
                raise NotImplementedError("shim: only norm=None, mel_scale='htk' (what vocos uses)")
            self.win_length = win_length or n_fft
            self.hop_length = hop_length or self.win_length // 2
            self.spectrogram = Spectrogram(n_fft, self.win_length, self.hop_length, power, center, pad_mode)
            self.mel_scale = MelScale(n_mels, sample_rate, f_min, f_max, n_fft // 2 + 1)

        def forward(self, x):
            return self.mel_scale(self.spectrogram(x))

    ta = types.ModuleType("torchaudio")
    ta.__shim__ = True
    ta.transforms = types.ModuleType("torchaudio.transforms")
    ta.transforms.MelSpectrogram = MelSpectrogram
    ta.transforms.Spectrogram = Spectrogram
    ta.functional = types.ModuleType("torchaudio.functional")
    ta.functional.functional = types.ModuleType("torchaudio.functional.functional")
    ta.functional.functional._hz_to_mel = _hz_to_mel
    ta.functional.functional._mel_to_hz = _mel_to_hz
    ta.functional.melscale_fbanks = melscale_fbanks
    return ta


def _encodec() -> types.ModuleType:
    from torch import nn

    class _Quantizer(nn.Module):
        """encodec's ResidualVectorQuantizer interface over transformers' (the codebooks are the same tensors)."""

        def __init__(self, rvq: nn.Module):
            super().__init__()
            self.rvq, self.bins = rvq, rvq.codebook_size
            self.vq = types.SimpleNamespace(layers=[types.SimpleNamespace(codebook=layer.codebook.embed)
                                                    for layer in rvq.layers])

        def get_num_quantizers_for_bandwidth(self, frame_rate: float, bandwidth: float | None = None) -> int:
            n_q = len(self.vq.layers)
            if bandwidth and bandwidth > 0:
                n_q = int(max(1, math.floor(bandwidth * 1000 / (math.log2(self.bins) * frame_rate))))
            return n_q

        def encode(self, x, frame_rate: float, bandwidth: float | None = None):
            """Latents (B, D, frames) -> codes (n_q, B, frames), n_q from the bandwidth (all when None)."""
            return self.rvq.encode(x, bandwidth)

    class EncodecModel(nn.Module):
        def __init__(self, hf_model: nn.Module):
            super().__init__()
            self.encoder = hf_model.encoder
            self.quantizer = _Quantizer(hf_model.quantizer)
            self.frame_rate, self.bandwidth = hf_model.config.frame_rate, None

        def set_target_bandwidth(self, bandwidth: float) -> None:
            self.bandwidth = bandwidth

        @staticmethod
        def encodec_model_24khz(pretrained: bool = True) -> EncodecModel:
            from ..encodec.reference import load_reference

            if _ENCODEC_FOLDER is None:
                raise RuntimeError("stand-in encodec: open torch_shim.encodec_from(folder) to say which EnCodec")
            hf = load_reference(_ENCODEC_FOLDER)
            if hf.config.sampling_rate != 24_000 or hf.config.audio_channels != 1:
                raise ValueError(f"{_ENCODEC_FOLDER} is not a 24 kHz mono EnCodec")
            return EncodecModel(hf)

    mod = types.ModuleType("encodec")
    mod.__shim__ = True
    mod.EncodecModel = EncodecModel
    return mod


def _stand_in(name: str) -> bool:
    """True when `name` cannot be imported for real (then the shim is needed)."""
    if name in sys.modules:
        return getattr(sys.modules[name], "__shim__", False)
    try:
        importlib.import_module(name)
        return False
    except Exception:
        return True


def import_vocos() -> tuple[types.ModuleType, dict[str, bool]]:
    """Import the upstream `vocos` package, shims in place only while it imports.

    The shim modules leave `sys.modules` again afterwards (vocos keeps its own references), so other code
    in the process (transformers checks for torchaudio) never sees them. Returns (vocos, {module: shimmed}).
    """
    # encodec: always the stand-in. The real package (installed since for Bark) downloads its weights at
    # construction, which cannot work offline; the stand-in loads them from the fixture folder.
    used = {"torchaudio": _stand_in("torchaudio"), "encodec": True}
    if "vocos.pretrained" in sys.modules:
        return importlib.import_module("vocos"), used
    added = []
    for name, make in (("torchaudio", _torchaudio), ("encodec", _encodec)):
        if not used[name]:
            continue
        mod = make()
        subs = {name: mod}
        if name == "torchaudio":
            subs.update({"torchaudio.transforms": mod.transforms, "torchaudio.functional": mod.functional,
                         "torchaudio.functional.functional": mod.functional.functional})
        sys.modules.update(subs)
        added += list(subs)
    try:
        vocos = importlib.import_module("vocos")
        importlib.import_module("vocos.pretrained")
    finally:
        for name in added:
            sys.modules.pop(name, None)
    return vocos, used
