"""Text -> Kokoro phonemes -> ids: misaki's espeak-ng G2P (offline; en-us / en-gb), sentence chunking."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from types import SimpleNamespace

from ....errors import InputError

MAX_PHONEMES = 510  # Kokoro-82M's PL-BERT context (512) minus the two 0 pads; models pass their own
LANGS = {"a": "en-us", "b": "en-gb", "en-us": "en-us", "en-gb": "en-gb", "en": "en-us"}


class G2PError(InputError):
    """Text that yields no phonemes the model can say."""


@dataclass
class Chunk:
    """One piece of text, its phonemes, their ids, symbols dropped (not in the vocabulary) and characters of
    the text that G2P cannot read (left out before G2P)."""

    text: str
    phonemes: str
    ids: list[int]
    dropped: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


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


@lru_cache(maxsize=4096)
def _silent(ch: str, lang: str) -> bool:
    """True when G2P gives `ch` on its own no phonemes."""
    return not phonemize(ch, lang)


def unreadable(text: str, lang: str = "en-us") -> list[str]:
    """Characters English G2P cannot read: letters of other scripts (espeak would say "Chinese letter") and
    symbols or digits it skips; punctuation and format characters are not meant to be read and pass."""
    out = []
    for ch in sorted(set(text)):
        if ch.isascii() or ch.isspace():
            continue
        cat = unicodedata.category(ch)
        if cat.startswith("L"):
            if not unicodedata.name(ch, "").startswith("LATIN"):
                out.append(ch)
        elif cat[0] in "SN" or cat in ("Co", "Cn"):
            if _silent(ch, lang):
                out.append(ch)
    return out


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
    """Text -> chunks of at most `limit` phonemes, sentence by sentence (short sentences are merged).

    Characters G2P cannot read (`unreadable`) are left out and listed on every chunk (`Chunk.unreadable`).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise G2PError("empty text: nothing to say")
    if limit < 1:
        raise ValueError(f"limit must be >= 1 phoneme, got {limit}")
    bad = unreadable(text, lang)
    readable = text
    if bad:  # left out: a space where they stood, none before punctuation
        readable = re.sub("|".join(map(re.escape, bad)), " ", text)
        readable = re.sub(r" +([.,!?;:])", r"\1", re.sub(r" {2,}", " ", readable))
    out: list[Chunk] = []
    pending_text, pending_ps = "", ""
    for sentence in split_sentences(readable):
        ps = phonemize(sentence, lang)
        if not ps:
            continue
        for piece in _split_long(ps, limit):
            if pending_ps and len(pending_ps) + 1 + len(piece) > limit:
                out.append(_chunk(pending_text, pending_ps, vocab, bad))
                pending_text, pending_ps = "", ""
            pending_text = f"{pending_text} {sentence}".strip() if sentence not in pending_text else pending_text
            pending_ps = f"{pending_ps} {piece}".strip()
    if pending_ps:
        out.append(_chunk(pending_text, pending_ps, vocab, bad))
    out = [c for c in out if c.ids]
    if not out:
        said = f"; unreadable characters: {''.join(bad)!r}" if bad else ""
        raise G2PError(f"no speakable phonemes in {text[:60]!r} (G2P produced nothing the model knows{said})")
    return out


def _chunk(text: str, ps: str, vocab: dict[str, int], bad: list[str]) -> Chunk:
    ids, dropped = to_ids(ps, vocab)
    return Chunk(text, ps, ids, dropped, list(bad))
