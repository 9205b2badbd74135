"""IndexTTS 2's config file: upstream's config.yaml, or config.json of the project's MLX layout."""

from __future__ import annotations

import json
from pathlib import Path


def read_yaml(folder: str | Path) -> dict:
    """config.yaml (upstream), or config.json of the project's MLX layout."""
    import yaml

    folder = Path(folder)
    if (folder / "config.json").is_file():
        return json.loads((folder / "config.json").read_text())
    return yaml.safe_load((folder / "config.yaml").read_text())
