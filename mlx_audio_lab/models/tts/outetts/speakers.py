"""Speaker profiles: the JSON the `outetts` package writes (text, words with duration, c1/c2 codes, features)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from .config import DEFAULT_SPEAKER


def shipped_speakers() -> dict[str, Path]:
    """Name -> JSON path of the profiles shipped in the installed `outetts` wheel (read as data, not imported)."""
    spec = importlib.util.find_spec("outetts")
    if spec is None or not spec.submodule_search_locations:
        return {}
    folder = Path(next(iter(spec.submodule_search_locations))) / "version" / "v3" / "default_speakers" / "json"
    return {p.stem: p for p in sorted(folder.glob("*.json"))}


def load_speaker(voice: str | Path | dict | None) -> dict | None:
    """A profile from a dict, a JSON path or a shipped name; None: no profile (the model picks a voice)."""
    if voice is None or isinstance(voice, dict):
        return voice
    path = Path(voice)
    if not path.is_file():
        shipped = shipped_speakers()
        if str(voice) not in shipped:
            names = ", ".join(shipped) or f"none (pip install --no-deps outetts==0.4.4 ships {DEFAULT_SPEAKER})"
            raise ValueError(f"voice {voice!r} is neither a speaker JSON file nor a shipped profile ({names})")
        path = shipped[str(voice)]
    speaker = json.loads(path.read_text())
    if not {"text", "words"} <= speaker.keys():
        raise ValueError(f"{path} is not an OuteTTS speaker profile (needs 'text' and 'words')")
    return speaker
