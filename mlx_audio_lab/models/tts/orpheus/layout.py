"""Orpheus's token layout: the prompt around the text, and 7 audio tokens per SNAC frame.

Ids come from the tokenizer's strings, so a fixture's small vocabulary works like the real one (in
orpheus-3b-0.1-ft `<custom_token_N>` is id 128256 + N). Prompt, as the `orpheus_tts` engine writes it:
  <custom_token_3> (start of human), the text ids (BOS first; "voice: text"), <|eot_id|>,
  <custom_token_4> (end of human), <custom_token_5> (start of AI), <custom_token_1> (start of speech)
then the model writes audio tokens until <custom_token_2> (end of speech). Audio token i of the output
(counting from 0) is slot p = i mod 7 of its frame: id = id(<custom_token_10>) + p * codebook_size + code.
The 7 slots are SNAC's codes in depth-first order (codecs/snac/frames.py): c0, c1, c2, c2, c1, c2, c2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SLOTS = 7
AUDIO_FIRST = 10  # <custom_token_10> is code 0 of slot 0


@dataclass(frozen=True)
class TokenLayout:
    """The special token ids of a tokenizer and the audio-token arithmetic."""

    bos: int
    eot: int
    custom_0: int  # id of <custom_token_0>
    codebook_size: int = 4096

    @classmethod
    def from_tokenizer(cls, tokenizer, codebook_size: int = 4096) -> TokenLayout:
        """From a `tokenizers.Tokenizer` (or anything with `token_to_id`) holding the Orpheus tokens."""
        ids = {s: tokenizer.token_to_id(s) for s in ("<|begin_of_text|>", "<|eot_id|>", "<custom_token_0>",
                                                     f"<custom_token_{AUDIO_FIRST + SLOTS * codebook_size - 1}>")}
        missing = [s for s, i in ids.items() if i is None]
        if missing:
            raise ValueError(f"tokenizer lacks the Orpheus tokens {missing} (codebook size {codebook_size})")
        return cls(ids["<|begin_of_text|>"], ids["<|eot_id|>"], ids["<custom_token_0>"], codebook_size)

    def custom(self, n: int) -> int:
        return self.custom_0 + n

    @property
    def start_of_speech(self) -> int:
        return self.custom(1)

    @property
    def end_of_speech(self) -> int:
        return self.custom(2)

    @property
    def start_of_human(self) -> int:
        return self.custom(3)

    @property
    def end_of_human(self) -> int:
        return self.custom(4)

    @property
    def start_of_ai(self) -> int:
        return self.custom(5)

    @property
    def audio_base(self) -> int:
        return self.custom(AUDIO_FIRST)

    def prompt(self, text_ids: list[int]) -> list[int]:
        """[SOH] text ids (with BOS) [EOT EOH SOA SOS]: what the engine sends before the audio tokens."""
        return [self.start_of_human, *text_ids, self.eot, self.end_of_human, self.start_of_ai, self.start_of_speech]

    def slot_of(self, tokens: np.ndarray) -> np.ndarray:
        """The slot (0-6) an audio token id belongs to by its value (-1 for other tokens)."""
        rel = np.asarray(tokens) - self.audio_base
        ok = (rel >= 0) & (rel < SLOTS * self.codebook_size)
        return np.where(ok, rel // self.codebook_size, -1)

    def frames(self, tokens: np.ndarray | list[int]) -> tuple[np.ndarray, int]:
        """Generated tokens -> (code grid (7, frames), frames dropped).

        Tokens after the end of speech are ignored, a trailing partial frame is cut; a frame whose token i
        is not an audio token of slot i % 7 cannot be decoded and is dropped (as the engine skips it).
        """
        t = np.asarray(tokens, dtype=np.int64).reshape(-1)
        end = np.flatnonzero(t == self.end_of_speech)
        t = t[: end[0]] if end.size else t
        n = len(t) // SLOTS
        t = t[: n * SLOTS].reshape(n, SLOTS)
        codes = t - self.audio_base - np.arange(SLOTS) * self.codebook_size  # (frames, 7)
        valid = ((codes >= 0) & (codes < self.codebook_size)).all(axis=1)
        return codes[valid].T.copy(), int((~valid).sum())

    def tokens(self, grid: np.ndarray) -> np.ndarray:
        """Code grid (7, frames) -> the audio token ids the model writes for it (frames * 7,)."""
        grid = np.asarray(grid, dtype=np.int64)
        return (grid.T + self.audio_base + np.arange(SLOTS) * self.codebook_size).reshape(-1)

    def cell(self, i: int, token: int) -> tuple[int, int, int] | None:
        """Output token i -> (slot row, frame, code) in the code grid, or None if it is not a slot-(i % 7) code."""
        row, code = i % SLOTS, int(token) - self.audio_base - (i % SLOTS) * self.codebook_size
        return (row, i // SLOTS, code) if 0 <= code < self.codebook_size else None
