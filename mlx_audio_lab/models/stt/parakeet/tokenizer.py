"""Parakeet's SentencePiece vocabulary (from `tokenizer.json`) and token -> word -> segment timing."""

from __future__ import annotations

from pathlib import Path

from ....layers.ctc import CTCToken, frames_to_seconds
from ....results import Segment

WORD_START = "▁"
PUNCTUATION = frozenset("?'¡¿-:,%/.!")
SENTENCE_END = frozenset(".?!")


class ParakeetTokenizer:
    """ids -> text and pieces; blank/pad ids are never spoken."""

    def __init__(self, path: str | Path, skip: set[int] = frozenset()):
        from tokenizers import Tokenizer

        self.path: Path | None = Path(path)
        self._tok = Tokenizer.from_file(str(path))
        self.skip = set(skip)

    @classmethod
    def from_vocabulary(cls, pieces: list[str], skip: set[int] = frozenset()) -> ParakeetTokenizer:
        """From a NeMo `vocabulary` list (the community layout's config): ids are list positions."""
        from tokenizers import Tokenizer, decoders, models

        self = cls.__new__(cls)
        self.path = None
        self._tok = Tokenizer(models.WordLevel({p: i for i, p in enumerate(pieces)}, unk_token=pieces[0]))
        self._tok.decoder = decoders.Metaspace(replacement=WORD_START, prepend_scheme="always")
        self._tok.add_special_tokens([p for p in pieces if p.startswith("<") and p.endswith(">")])  # <unk>, <|x|>
        self.skip = set(skip)
        return self

    def vocabulary(self, size: int) -> list[str]:
        """The pieces of ids 0 .. size - 1 (the NeMo `vocabulary` list)."""
        return [self.piece(i) for i in range(size)]

    def piece(self, i: int) -> str:
        return self._tok.id_to_token(int(i)) or ""

    def decode(self, ids: list[int]) -> str:
        """Text of emitted label ids (blank and pad dropped)."""
        return self._tok.decode([int(i) for i in ids if int(i) not in self.skip], skip_special_tokens=True).strip()

    def words(self, tokens: list[CTCToken], frame_shift: float, punctuation_snap: bool = False) -> list[Segment]:
        """One segment per word (pieces from one `▁` to the next); times from the tokens' frame spans.

        `punctuation_snap` (TDT, as NeMo): a punctuation piece takes no time, it starts and ends where the
        previous token ended.
        """
        spans: list[tuple[CTCToken, float, float]] = []
        for k, t in enumerate(tokens):
            if t.id in self.skip:
                continue
            start, end = t.start, t.end
            if punctuation_snap and k > 0 and self.piece(t.id).lstrip(WORD_START) in PUNCTUATION and spans:
                start = end = spans[-1][2]
            spans.append((t, start, end))
        groups: list[list[tuple[CTCToken, float, float]]] = []
        for s in spans:
            if not groups or self.piece(s[0].id).startswith(WORD_START):
                groups.append([])
            groups[-1].append(s)
        out = []
        for g in groups:
            ids = [s[0].id for s in g]
            text = self.decode(ids)
            if text:
                out.append(Segment(frames_to_seconds(g[0][1], frame_shift), frames_to_seconds(g[-1][2], frame_shift),
                                   text, ids))
        return out

    def sentences(self, words: list[Segment]) -> list[Segment]:
        """Words joined into segments ending at `.`, `?` or `!`."""
        out: list[Segment] = []
        cur: list[Segment] = []
        for w in words:
            cur.append(w)
            if w.text and w.text[-1] in SENTENCE_END:
                out.append(_join(cur))
                cur = []
        if cur:
            out.append(_join(cur))
        return out


def _join(words: list[Segment]) -> Segment:
    return Segment(words[0].start, words[-1].end, " ".join(w.text for w in words),
                   [i for w in words for i in w.tokens])
