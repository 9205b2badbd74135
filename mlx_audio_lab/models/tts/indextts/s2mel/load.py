"""Build the MLX s2mel stage from an IndexTTS 2 folder: `config.yaml` (its `s2mel:` section and `gpt.model_dim`)
and the file named by `s2mel_checkpoint` (upstream: s2mel.pth, read with `weights_only=True`)."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx

from .....convert.loading import fill_model
from .....convert.readers import read_file
from .config import S2MelConfig
from .convert import KEYMAP, prepare
from .model import S2Mel


def read_s2mel_config(folder: str | Path) -> S2MelConfig:
    from ..config_file import read_yaml

    return S2MelConfig.from_dict(read_yaml(folder))


def load_s2mel(folder: str | Path, dtype: mx.Dtype = mx.float32) -> S2Mel:
    """A ready MLX s2mel stage (fp32 by default)."""
    from ..config_file import read_yaml

    folder = Path(folder)
    raw = read_yaml(folder)
    if "s2mel" not in raw:
        raise FileNotFoundError(f"{folder}: config has no `s2mel:` section (an IndexTTS 2 checkpoints/config.yaml "
                                "has one, with `s2mel_checkpoint: s2mel.pth`)")
    path = folder / raw.get("s2mel_checkpoint", "s2mel.pth")
    model = fill_model(S2Mel(S2MelConfig.from_dict(raw)), prepare(read_file(path)), KEYMAP, {}, path, dtype)
    model.source = folder
    return model
