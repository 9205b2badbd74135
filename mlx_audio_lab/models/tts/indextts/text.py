"""IndexTTS 2's text front end without its normaliser: upstream (`indextts.utils.front`) runs NeMo text
normalisation, then a punctuation map, `tokenize_by_CJK_char` (CJK characters spaced apart, the rest upper-cased)
and the sentencepiece `bpe.model` (config.yaml `dataset.bpe_model`). NeMo is not ported: text it would rewrite
(digits, currency, symbols, URLs, e-mails) is refused, so the rest equals upstream with NeMo as the identity."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ....errors import InputError

# The punctuation upstream maps after normalising (`TextNormalizer.char_rep_map`); multi-character keys first.
CHAR_MAP = {"...": "…", ",,,": "…", "，，，": "…", "……": "…", "：": ",", "；": ",", ";": ",", "，": ",",
            "。": ".", "！": "!", "？": "?", "\n": " ", "·": "-", "、": ",", "“": "'", "”": "'", '"': "'",
            "‘": "'", "’": "'", "（": "'", "）": "'", "(": "'", ")": "'", "《": "'", "》": "'", "【": "'", "】": "'",
            "[": "'", "]": "'", "—": "-", "～": "-", "~": "-", "「": "'", "」": "'", ":": ","}
_CHAR_MAP_RE = re.compile("|".join(re.escape(k) for k in CHAR_MAP))
# Upstream's English contraction rewrite, applied before normalising ("it's" -> "it is").
_CONTRACTION_RE = re.compile(r"(what|where|who|which|how|t?here|it|s?he|that|this)'s", re.IGNORECASE)
# Characters NeMo would read out (numbers, money, symbols, URLs, e-mails): refused, to be spelled out.
_NEEDS_NORMALISER = re.compile(r"[0-9０-９$€£¥₩₹%‰&@/\\#+=<>*^|_°§©®™]")
# `tokenize_by_CJK_char`'s CJK ranges.
_CJK_RE = re.compile(r"([\u1100-\u11ff\u2e80-\ua4cf\ua840-\uD7AF\uF900-\uFAFF\uFE30-\uFE4F\uFF65-\uFFDC"
                     r"\U00020000-\U0002FFFF])")


class TextNeedsNormalising(InputError):
    """Text with characters only IndexTTS 2's (unported) NeMo normaliser reads out."""


def check_plain(text: str) -> None:
    """Refuse text holding digits, currency or symbols that NeMo would rewrite, naming them."""
    found = sorted(set(_NEEDS_NORMALISER.findall(text)))
    if found:
        raise TextNeedsNormalising(
            f"IndexTTS 2's text normaliser (NeMo) is not ported, so {' '.join(repr(c) for c in found)} cannot be "
            "read out: spell it out in words (e.g. 'twenty percent', 'at', 'slash')")


def normalise(text: str) -> str:
    """Upstream's `TextNormalizer.normalize` with NeMo as the identity: contractions, then the punctuation map."""
    check_plain(text)
    text = _CONTRACTION_RE.sub(r"\1 is", text)
    return _CHAR_MAP_RE.sub(lambda m: CHAR_MAP[m.group()], text)


def split_cjk(line: str) -> str:
    """`tokenize_by_CJK_char`: each CJK character a word, other runs stripped and upper-cased."""
    return " ".join(w.strip().upper() for w in _CJK_RE.split(line.strip()) if w.strip())


class TextTokenizer:
    """Text -> IndexTTS 2 text ids through the checkpoint's sentencepiece model."""

    def __init__(self, bpe_path: str | Path):
        from sentencepiece import SentencePieceProcessor

        self.path = Path(bpe_path)
        self.sp = SentencePieceProcessor(model_file=str(self.path))

    def pieces(self, text: str) -> list[str]:
        """`TextTokenizer.tokenize` (a one-character text goes to sentencepiece as is, as upstream)."""
        if not text:
            return []
        if len(text.strip()) == 1:
            check_plain(text)
            return self.sp.Encode(text, out_type=str)
        return self.sp.Encode(split_cjk(normalise(text)), out_type=str)

    def ids(self, text: str) -> list[int]:
        """infer_v2's ids: `convert_tokens_to_ids(tokenize(text))` (unknown pieces -> <unk>)."""
        return [self.sp.PieceToId(p) for p in self.pieces(text)]

    def encode(self, text: str) -> np.ndarray:
        """(1, L) int64 ids; characters the model's vocabulary lacks are refused (upstream maps them to <unk>)."""
        pieces = self.pieces(text)
        ids = [self.sp.PieceToId(p) for p in pieces]
        unknown = sorted({p for p, i in zip(pieces, ids) if i == self.sp.unk_id()})
        if unknown:
            raise InputError(f"{self.path.name} has no tokens for {' '.join(repr(p) for p in unknown)}: "
                             "rewrite the text without them")
        if not ids:
            raise InputError("no text to speak (empty after normalising)")
        return np.array([ids], dtype=np.int64)


def bpe_path(folder: str | Path) -> Path:
    """The checkpoint's sentencepiece model: config.yaml `dataset.bpe_model` (upstream's default bpe.model)."""
    from .config_file import read_yaml

    return Path(folder) / (read_yaml(folder).get("dataset") or {}).get("bpe_model", "bpe.model")
