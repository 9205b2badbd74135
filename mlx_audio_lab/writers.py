"""Transcript writers: txt, srt, vtt, tsv and json, shared by the CLI and the server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .results import Segment, Transcript

FORMATS = ("txt", "srt", "vtt", "tsv", "json")


def timestamp(seconds: float, decimal: str = ",", hours: bool = True) -> str:
    """`HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` / `MM:SS.mmm` (WebVTT) for a time in seconds."""
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    head = f"{h:02d}:" if hours or h else ""
    return f"{head}{m:02d}:{s:02d}{decimal}{ms:03d}"


def _segments(t: Transcript) -> list[Segment]:
    return [s for s in t.segments if s.text.strip()]


def to_txt(t: Transcript) -> str:
    """One line per segment (the whole text when there are no segments)."""
    lines = [s.text.strip() for s in _segments(t)] or [t.text.strip()]
    return "\n".join(lines) + "\n"


def to_srt(t: Transcript) -> str:
    """SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`."""
    cues = [f"{i}\n{timestamp(s.start)} --> {timestamp(s.end)}\n{s.text.strip()}\n"
            for i, s in enumerate(_segments(t), start=1)]
    return "\n".join(cues)


def to_vtt(t: Transcript) -> str:
    """WebVTT: a `WEBVTT` header, then cues `HH:MM:SS.mmm --> HH:MM:SS.mmm`."""
    cues = [f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{s.text.strip()}\n" for s in _segments(t)]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_tsv(t: Transcript) -> str:
    """Tab-separated `start end text`, times in integer milliseconds (as openai-whisper writes them)."""
    rows = ["start\tend\ttext"]
    rows += [f"{round(s.start * 1000)}\t{round(s.end * 1000)}\t{s.text.strip().replace(chr(9), ' ')}"
             for s in _segments(t)]
    return "\n".join(rows) + "\n"


def to_json(t: Transcript) -> str:
    """The transcript's dict (text, segments with words when timed, language, stats)."""
    return json.dumps(t.to_dict(), indent=2, ensure_ascii=False, default=float) + "\n"


WRITERS: dict[str, Callable[[Transcript], str]] = {
    "txt": to_txt, "srt": to_srt, "vtt": to_vtt, "tsv": to_tsv, "json": to_json,
}


def render(t: Transcript, fmt: str) -> str:
    """The transcript in format `fmt` (one of FORMATS)."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return WRITERS[fmt](t)


def write(t: Transcript, fmt: str, out_dir: Path, stem: str) -> Path:
    """Write `stem.fmt` into `out_dir` atomically (a temporary file, then a rename); returns the path."""
    text = render(t, fmt)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.{fmt}"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
