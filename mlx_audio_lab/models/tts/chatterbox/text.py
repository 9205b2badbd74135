"""Chatterbox's English text front end: punctuation clean-up, then `tokenizer.json` with spaces as `[SPACE]`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SPACE = "[SPACE]"
# (what, becomes): uncommon or LLM-style punctuation mapped onto what the model saw in training
PUNCTUATION = (("...", ", "), ("\u2026", ", "), (":", ","), (" - ", ", "), (";", ", "), ("\u2014", "-"),
               ("\u2013", "-"), (" ,", ","), ("\u201c", '"'), ("\u201d", '"'), ("\u2018", "'"), ("\u2019", "'"))
SENTENCE_ENDS = (".", "!", "?", "-", ",")
EMPTY_TEXT = "You need to add some text for me to talk."


def normalize(text: str) -> str:
    """Capitalised, single-spaced, punctuation mapped, ending in a sentence mark (the reference's `punc_norm`)."""
    if not text:
        return EMPTY_TEXT
    if text[0].islower():
        text = text[0].upper() + text[1:]
    text = " ".join(text.split())
    for what, becomes in PUNCTUATION:
        text = text.replace(what, becomes)
    text = text.rstrip(" ")
    return text if text.endswith(SENTENCE_ENDS) else text + "."


class TextTokenizer:
    """`tokenizer.json` of ResembleAI/chatterbox (read with `tokenizers`)."""

    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer

        self.path = Path(path)
        self.tokenizer = Tokenizer.from_file(str(path))

    def encode(self, text: str) -> np.ndarray:
        """Normalised text -> ids (L,), spaces spelled `[SPACE]` (start / stop tokens are added by T3)."""
        return np.array(self.tokenizer.encode(normalize(text).replace(" ", SPACE)).ids, np.int64)
