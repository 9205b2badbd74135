"""Text -> Kokoro phonemes -> ids: misaki's espeak-ng G2P (offline; en-us / en-gb), sentence chunking."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace

MAX_PHONEMES = 510  # the PL-BERT context (512) minus the two 0 pads
LANGS = {"a": "en-us", "b": "en-gb", "en-us": "en-us", "en-gb": "en-gb", "en": "en-us"}


class G2PError(ValueError):
    """Text that yields no phonemes the model can say."""


@dataclass
class Chunk:
    """One piece of text, its phonemes, their ids, and symbols that were dropped (not in the vocabulary)."""

    text: str
    phonemes: str
    ids: list[int]
    dropped: list[str] = field(default_factory=list)


_g2p_cache: dict[str, object] = {}


def _g2p(lang: str):
    """misaki's English espeak-ng converter (no spaCy model needed), cached per language."""
    if lang not in _g2p_cache:
        from misaki.espeak import EspeakFallback

        _g2p_cache[lang] = EspeakFallback(british=lang == "en-gb")
    return _g2p_cache[lang]


def phonemize(text: str, lang: str = "en-us") -> str:
    """English text -> Kokoro phoneme string (espeak-ng IPA mapped to Kokoro's symbols by misaki)."""
    lang = LANGS.get(lang.lower(), None) if isinstance(lang, str) else None
    if lang is None:
        raise ValueError(f"unsupported language; use one of {sorted(set(LANGS.values()))}")
    ps, _ = _g2p(lang)(SimpleNamespace(text=text))
    return re.sub(r"\s+", " ", ps or "").strip()


def to_ids(phonemes: str, vocab: dict[str, int]) -> tuple[list[int], list[str]]:
    """Phoneme symbols -> ids; symbols outside the vocabulary are dropped and returned."""
    ids, dropped = [], []
    for p in phonemes:
        if p in vocab:
            ids.append(vocab[p])
        else:
            dropped.append(p)
    return ids, dropped


def split_sentences(text: str) -> list[str]:
    """Sentences (split after . ! ? ; and newlines), empty pieces removed."""
    parts = re.split(r"(?<=[.!?;])\s+|\n+", text.strip())
    return [p.strip() for p in parts if p.strip()]


def _split_long(ps: str, limit: int) -> list[str]:
    """Phonemes longer than `limit`: cut at the last comma, else space, before the limit."""
    out = []
    while len(ps) > limit:
        cut = max(ps.rfind(", ", 0, limit), ps.rfind(" ", 0, limit))
        cut = cut + 1 if cut > 0 else limit
        out.append(ps[:cut].strip())
        ps = ps[cut:].strip()
    return out + ([ps] if ps else [])


def chunks(text: str, vocab: dict[str, int], lang: str = "en-us", limit: int = MAX_PHONEMES) -> list[Chunk]:
    """Text -> chunks of at most `limit` phonemes, sentence by sentence (short sentences are merged)."""
    if not text or not text.strip():
        raise G2PError("empty text: nothing to say")
    out: list[Chunk] = []
    pending_text, pending_ps = "", ""
    for sentence in split_sentences(text):
        ps = phonemize(sentence, lang)
        if not ps:
            continue
        for piece in _split_long(ps, limit):
            if pending_ps and len(pending_ps) + 1 + len(piece) > limit:
                out.append(_chunk(pending_text, pending_ps, vocab))
                pending_text, pending_ps = "", ""
            pending_text = f"{pending_text} {sentence}".strip() if sentence not in pending_text else pending_text
            pending_ps = f"{pending_ps} {piece}".strip()
    if pending_ps:
        out.append(_chunk(pending_text, pending_ps, vocab))
    out = [c for c in out if c.ids]
    if not out:
        raise G2PError(f"no speakable phonemes in {text[:60]!r} (G2P produced nothing the model knows)")
    return out


def _chunk(text: str, ps: str, vocab: dict[str, int]) -> Chunk:
    ids, dropped = to_ids(ps, vocab)
    return Chunk(text, ps, ids, dropped)
