"""Dia's text side, as transformers' DiaTokenizer writes it: UTF-8 bytes as ids 0-255, except the whole tags
`<pad>` (0), `[S1]` (1) and `[S2]` (2); no BOS/EOS. Non-verbal tags such as `(laughs)` are plain bytes."""

from __future__ import annotations

import re

SPECIAL = {"<pad>": 0, "[S1]": 1, "[S2]": 2}
_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL) + ")")


def encode(text: str) -> list[int]:
    """Text -> ids: each special tag as one id, everything else byte by byte."""
    ids: list[int] = []
    for piece in _SPLIT.split(text):
        ids.extend([SPECIAL[piece]] if piece in SPECIAL else piece.encode("utf-8"))
    return ids


def speakers(text: str) -> list[str]:
    """The speaker tags of a dialogue, in order (`[S1]`, `[S2]`, ...)."""
    return re.findall(r"\[S[12]\]", text)
