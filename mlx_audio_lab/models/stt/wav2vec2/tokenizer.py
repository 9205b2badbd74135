"""Characters of a Wav2Vec2 CTC head, read from `vocab.json`; `|` separates words."""

from __future__ import annotations

import json
from pathlib import Path

from ....layers.ctc import CTCToken, collapse, frames_to_seconds
from ....results import Segment


class CTCVocab:
    """id <-> token of a CTC vocabulary (pad is the blank; `<s>`, `</s>` are never spoken)."""

    def __init__(self, vocab: dict[str, int], pad: str = "<pad>", delimiter: str = "|"):
        self.token_to_id = dict(vocab)
        self.id_to_token = {i: t for t, i in vocab.items()}
        self.blank = vocab.get(pad, 0)
        self.delimiter = vocab.get(delimiter)
        self.silent = {self.blank} | {vocab[t] for t in ("<s>", "</s>") if t in vocab}

    @classmethod
    def from_file(cls, path: str | Path) -> CTCVocab:
        """Read a Hugging Face `vocab.json` (token -> id)."""
        return cls(json.loads(Path(path).read_text()))

    def __len__(self) -> int:
        return len(self.id_to_token)

    def decode(self, ids: list[int]) -> str:
        """Text of collapsed CTC ids (no repeats, no blanks): the delimiter becomes a space."""
        text = "".join(" " if i == self.delimiter else self.id_to_token.get(i, "") for i in ids
                       if i not in self.silent)
        return " ".join(text.split())

    def decode_path(self, path) -> str:
        """Text of a frame-level greedy path (repeats collapsed, blanks dropped)."""
        return self.decode([t.id for t in collapse(path, self.blank)])

    def words(self, tokens: list[CTCToken], frame_shift: float) -> list[Segment]:
        """One segment per word: from its first character's first frame to its last character's end."""
        out: list[Segment] = []
        current: list[CTCToken] = []
        for t in [*tokens, None]:
            if t is None or t.id == self.delimiter:
                if current:
                    ids = [c.id for c in current]
                    out.append(Segment(frames_to_seconds(current[0].start, frame_shift),
                                       frames_to_seconds(current[-1].end, frame_shift), self.decode(ids), ids))
                current = []
            elif t.id not in self.silent:
                current.append(t)
        return out
