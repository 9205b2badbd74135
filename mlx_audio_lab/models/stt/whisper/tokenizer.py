"""Whisper's byte-level BPE with its special tokens (languages, tasks, timestamps), from `tokenizer.json`."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi iw uk el ms cs ro da hu ta no th ur hr bg lt "
    "la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc "
    "ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su yue"
).split()


class WhisperTokenizer:
    """Text <-> token ids, and the ids of Whisper's control tokens."""

    def __init__(self, path: Path, multilingual: bool):
        from tokenizers import Tokenizer

        self.path = Path(path)
        self._tok = Tokenizer.from_file(str(path))
        self.multilingual = multilingual

    def _id(self, token: str) -> int:
        i = self._tok.token_to_id(token)
        if i is None:
            raise KeyError(f"{self.path}: no token {token!r}")
        return i

    @cached_property
    def eot(self) -> int:
        return self._id("<|endoftext|>")

    @cached_property
    def sot(self) -> int:
        return self._id("<|startoftranscript|>")

    @cached_property
    def no_timestamps(self) -> int:
        return self._id("<|notimestamps|>")

    @cached_property
    def timestamp_begin(self) -> int:
        """Id of `<|0.00|>`; timestamps step by 0.02 s from there."""
        return self.no_timestamps + 1

    @cached_property
    def transcribe(self) -> int:
        return self._id("<|transcribe|>")

    @cached_property
    def translate(self) -> int:
        return self._id("<|translate|>")

    @cached_property
    def sot_prev(self) -> int:
        return self._id("<|startofprev|>")

    @cached_property
    def no_speech(self) -> int | None:
        for t in ("<|nospeech|>", "<|nocaptions|>"):
            i = self._tok.token_to_id(t)
            if i is not None:
                return i
        return None

    @cached_property
    def language_ids(self) -> dict[str, int]:
        """Language code -> token id: the tokens between <|startoftranscript|> and <|translate|> (multilingual
        vocabularies only)."""
        if not self.multilingual:
            return {}
        vocab = self._tok.get_vocab(with_added_tokens=True)
        between = sorted((i, t) for t, i in vocab.items() if self.sot < i < self.translate)
        return {t[2:-2]: i for i, t in between if t.startswith("<|") and t.endswith("|>")}

    def sot_sequence(self, language: str | None = "en", task: str = "transcribe",
                     timestamps: bool = False) -> list[int]:
        """The decoder prompt: <|startoftranscript|> [<|lang|> <|task|>] [<|notimestamps|>]."""
        seq = [self.sot]
        if self.multilingual:
            if language is not None:
                if language not in self.language_ids:
                    raise ValueError(f"unknown language {language!r}; known: {', '.join(self.language_ids)}")
                seq.append(self.language_ids[language])
            seq.append(self.translate if task == "translate" else self.transcribe)
        if not timestamps:
            seq.append(self.no_timestamps)
        return seq

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        """Text of the ordinary tokens (control and timestamp tokens dropped)."""
        return self._tok.decode([i for i in ids if i < self.eot], skip_special_tokens=True)

    def decode_with_timestamps(self, ids: list[int]) -> str:
        """Text with `<|1.08|>` markers where timestamp tokens are."""
        out, run = [], []
        for i in ids:
            if i >= self.timestamp_begin:
                out.append(self.decode(run))
                run = []
                out.append(f"<|{(i - self.timestamp_begin) * 0.02:.2f}|>")
            else:
                run.append(i)
        out.append(self.decode(run))
        return "".join(out)


def multilingual_layout(english: dict, v3: bool = False) -> dict:
    """A `tokenizer.json` with the multilingual id layout, made from an English-only one (for fixtures).

    Multilingual vocabularies have one more ordinary token before `<|endoftext|>` (50257 instead of 50256),
    so every control token moves up by one; large-v3 adds `<|yue|>` after `<|su|>`, moving the task and
    later tokens by one more. The ordinary tokens keep the English BPE (fixtures test ids, not text).
    """
    import copy

    d = copy.deepcopy(english)
    eot = d["model"]["vocab"].pop("<|endoftext|>")
    d["model"]["vocab"]["<|extra|>"] = eot  # the stand-in ordinary token
    added = sorted(d["added_tokens"], key=lambda t: t["id"])
    su = next(t["id"] for t in added if t["content"] == "<|su|>")
    for t in added:
        t["id"] += 1 + int(v3 and t["id"] > su)
    if v3:
        added.append({**added[0], "id": su + 2, "content": "<|yue|>"})
        added.sort(key=lambda t: t["id"])
    d["added_tokens"] = added
    d["model"]["vocab"]["<|endoftext|>"] = eot + 1
    ids = {t["content"]: t["id"] for t in added}
    for name, spec in d.get("post_processor", {}).get("special_tokens", {}).items():
        spec["ids"] = [ids[name]]
    return d
