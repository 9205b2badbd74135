"""Voice packs: per voice a (max_len, 1, 256) table of style vectors, one row per phoneme-string length."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ....errors import InputError


class UnknownVoiceError(InputError, KeyError):
    """A voice name that is not in the pack; the message lists the known voices."""

    def __str__(self) -> str:
        return str(self.args[0])


class Voices:
    """Named voice packs; `style(voice, n_phonemes)` picks the row, `blend` mixes packs."""

    def __init__(self, packs: dict[str, np.ndarray]):
        self.packs = {k: np.asarray(v, np.float32).reshape(v.shape[0], 1, -1) for k, v in packs.items()}

    @classmethod
    def from_folder(cls, folder: Path) -> Voices:
        """`voices/<name>.safetensors` (MLX community, one tensor "voice"), `voices/<name>.pt` (hexgrad, read
        with weights_only=True, only where no .safetensors has the name), `voices.npz` or `voices.safetensors`."""
        from ....convert.readers import read_file

        folder = Path(folder)
        packs: dict[str, np.ndarray] = {}
        for p in sorted((folder / "voices").glob("*.safetensors")):
            tensors = read_file(p)
            packs[p.stem] = tensors["voice"] if "voice" in tensors else next(iter(tensors.values()))
        pts = [p for p in sorted((folder / "voices").glob("*.pt")) if p.stem not in packs]
        if pts:
            import torch

            for p in pts:
                packs[p.stem] = torch.load(str(p), map_location="cpu", weights_only=True).float().numpy()
        for name in ("voices.npz", "voices.safetensors"):
            if (folder / name).is_file():
                packs.update(read_file(folder / name))
        return cls(packs)

    def save_files(self, folder: Path) -> Path:
        """One `folder/voices/<name>.safetensors` per pack, tensor "voice" (N, 1, 256): the MLX-community layout."""
        from safetensors.numpy import save_file

        out = Path(folder) / "voices"
        out.mkdir(parents=True, exist_ok=True)
        for name, pack in self.packs.items():
            save_file({"voice": np.ascontiguousarray(pack, dtype=np.float32)}, str(out / f"{name}.safetensors"))
        return out

    def save(self, folder: Path) -> Path:
        """Write every pack to `folder/voices.safetensors` (read back by `from_folder`; the MLX layout)."""
        from safetensors.numpy import save_file

        path = Path(folder) / "voices.safetensors"
        save_file({k: np.ascontiguousarray(v) for k, v in self.packs.items()}, str(path))
        return path

    @property
    def names(self) -> list[str]:
        return sorted(self.packs)

    def pack(self, voice: str | np.ndarray) -> np.ndarray:
        """A pack by name, a blend "a,b" (mean) or "a:0.7,b:0.3", or an array given directly."""
        if not isinstance(voice, str):
            return np.asarray(voice, np.float32).reshape(np.shape(voice)[0], 1, -1)
        parts = [p.strip() for p in voice.split(",") if p.strip()]
        if len(parts) > 1:
            weights = {}
            for p in parts:
                name, _, w = p.partition(":")
                try:
                    weights[name] = float(w) if w else 1.0
                except ValueError:
                    raise InputError(f"voice blend {voice!r}: weight {w!r} of {name!r} is not a number") from None
            return self.blend(weights)
        if voice not in self.packs:
            raise UnknownVoiceError(
                f"unknown voice {voice!r}; voices: {', '.join(self.names) or '(none in this model folder)'}")
        return self.packs[voice]

    def blend(self, weights: dict[str, float]) -> np.ndarray:
        """A weighted mix of packs (weights normalized to sum 1)."""
        total = sum(weights.values())
        if not np.isfinite(total) or total <= 0 or any(w < 0 or not np.isfinite(w) for w in weights.values()):
            raise InputError(f"voice blend weights {weights} must be finite, >= 0, and sum to more than 0")
        return sum(self.pack(n) * (w / total) for n, w in weights.items())

    def style(self, voice: str | np.ndarray, n_phonemes: int) -> np.ndarray:
        """The (1, 256) style vector for a phoneme string of `n_phonemes` symbols (KPipeline's row choice)."""
        pack = self.pack(voice)
        return pack[min(max(n_phonemes - 1, 0), pack.shape[0] - 1)]
