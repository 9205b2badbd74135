"""Voxtral's tokenizer (Tekken vocabulary) from a model folder, and its prompts.

Reads `tokenizer.json` with `tokenizers`. Control tokens are looked up by name, so the fixture's tiny
Tekken-like vocabulary and the real one (ids 1 <s>, 3 [INST], 4 [/INST], 24 [AUDIO], 25 [BEGIN_AUDIO],
34 [TRANSCRIBE]) go through the same code.
"""

from __future__ import annotations

from pathlib import Path

CONTROL = ("<s>", "</s>", "[INST]", "[/INST]", "[AUDIO]", "[BEGIN_AUDIO]", "[TRANSCRIBE]")


class VoxtralTokenizer:
    """Text <-> ids, control-token ids, and the transcription and audio-chat prompts (mistral-common's)."""

    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(path))
        missing = [t for t in CONTROL if self.tok.token_to_id(t) is None]
        if missing:
            raise ValueError(f"{path}: no control tokens {missing}; not a Voxtral (Tekken) tokenizer")
        self.ids = {t: self.tok.token_to_id(t) for t in CONTROL}
        self.special = {i for t, i in self.tok.get_added_tokens_decoder().items() if i.special} | set(self.ids.values())

    @property
    def eos(self) -> int:
        return self.ids["</s>"]

    def encode(self, text: str) -> list[int]:
        """Plain text -> ids (no BOS/EOS)."""
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        """Ids -> text, control tokens dropped."""
        return self.tok.decode([i for i in ids if i not in self.special], skip_special_tokens=True)

    def _audio(self, n_audio: int) -> list[int]:
        return [self.ids["[BEGIN_AUDIO]"]] + [self.ids["[AUDIO]"]] * n_audio

    def transcription_prompt(self, n_audio: int, language: str | None = "en") -> list[int]:
        """<s>[INST][BEGIN_AUDIO][AUDIO]x n[/INST]lang:xx[TRANSCRIBE] (no `lang:` when language is None)."""
        lang = self.encode(f"lang:{language}") if language else []
        return ([self.ids["<s>"], self.ids["[INST]"]] + self._audio(n_audio) + [self.ids["[/INST]"]]
                + lang + [self.ids["[TRANSCRIBE]"]])

    def chat_prompt(self, n_audio: int, question: str) -> list[int]:
        """<s>[INST][BEGIN_AUDIO][AUDIO]x n question[/INST]: one user turn holding the audio then the text."""
        return ([self.ids["<s>"], self.ids["[INST]"]] + self._audio(n_audio) + self.encode(question)
                + [self.ids["[/INST]"]])

    @property
    def special_ids(self) -> dict[int, str]:
        """id -> name of the control tokens (for notebooks)."""
        return {i: t for t, i in self.ids.items()}


def _byte_symbols() -> list[str]:
    """The printable stand-in of each byte 0..255 used by byte-level BPE (GPT-2's table)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in keep else chr(next(extra)) for b in range(256)]


def tiny_tokenizer_json(path: Path, n_special: int = 40) -> None:
    """Write a Tekken-like byte-level tokenizer: `n_special` control tokens, then byte b at n_special + b."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    names = {0: "<unk>", 1: "<s>", 2: "</s>", 3: "[INST]", 4: "[/INST]", 11: "<pad>", 24: "[AUDIO]",
             25: "[BEGIN_AUDIO]", 34: "[TRANSCRIBE]"}
    specials = [names.get(i, f"<SPECIAL_{i}>") for i in range(n_special)]
    alphabet = _byte_symbols()
    vocab = {s: i for i, s in enumerate(specials)}
    vocab.update({ch: n_special + i for i, ch in enumerate(alphabet)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    tok.save(str(path))
