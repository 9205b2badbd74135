"""Long text through any text-to-speech port: cut into sentences, spoken one sentence at a time.

Each sentence is a separate `model.generate` call (its own prompt, KV cache and codec state), so memory is
bounded by the longest sentence, not the text; sentence i is seeded with `seed + i`, so a one-sentence text
speaks exactly as `generate` alone would. `speak_sentences` reports progress after every sentence.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

# A sentence ends at . ! ? ; or an ellipsis (with any closing quotes / brackets) before white space, at a
# CJK full stop, or at a line break. Abbreviations and initials ("Dr.", "e.g.", "J. R.") do not end one.
_END = re.compile(r"(?<=[.!?;\u2026][\"'\u201d\u2019)\]])\s+|(?<=[.!?;\u2026])\s+|(?<=[\u3002\uff01\uff1f])|\n+")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "no", "fig", "mt"}

Progress = Callable[[int, int, str, list], None]  # (index, count, sentence, that sentence's results)


def split_sentences(text: str) -> list[str]:
    """`text` -> its sentences, each with its punctuation, white space trimmed, empty ones dropped."""
    pieces = [p.strip() for p in _END.split(text.strip())]
    out: list[str] = []
    for piece in (p for p in pieces if p):
        if out and _continues(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def _continues(sentence: str) -> bool:
    """True when `sentence` ends in an abbreviation or an initial, so the next piece belongs to it."""
    if not sentence.endswith("."):
        return False
    word = sentence.rsplit(None, 1)[-1][:-1].lower().lstrip("(\"'")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def speak_sentences(model: Any, text: str, progress: Progress | None = None, **options) -> Iterator[Any]:
    """`model.generate`'s results for each sentence of `text` in turn (sentence i seeded `seed + i` when the
    model takes a seed); `progress(i, n, sentence, results)` is called after each sentence. A model whose
    text must stay whole (`whole_text`, e.g. Dia's dialogue tags) gets it in one call."""
    whole = getattr(model, "whole_text", False)
    sentences = ([text] if whole else split_sentences(text)) or [text]  # nothing to split: the model's own error
    base = options.pop("seed", _default_seed(model))
    for i, sentence in enumerate(sentences):
        if base is not None:
            options["seed"] = base + i
        results = list(model.generate(sentence, **options))
        if progress is not None:
            progress(i, len(sentences), sentence, results)
        yield from results


def _default_seed(model: Any) -> int | None:
    """The seed `model.generate` uses when given none (None when it takes no seed or defaults to None)."""
    try:
        param = inspect.signature(model.generate).parameters.get("seed")
    except (TypeError, ValueError):
        return None
    return None if param is None or param.default is inspect.Parameter.empty else param.default
