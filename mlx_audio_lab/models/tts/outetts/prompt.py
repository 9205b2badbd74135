"""OuteTTS 1.0's prompt (interface v3 of the `outetts` package): text, then the speaker profile, then audio.

The completion prompt, as one string tokenized without BOS:
  <|im_start|>\\n<|text_start|>{speaker text + text}<|text_end|>\\n<|audio_start|>\\n
  then per profile word: <|word_start|>{word}<|features|><|t_{duration:.2f}|><|energy_E|><|spectral_centroid_S|>
  <|pitch_P|><|code|>{<|c1_a|><|c2_b|> per DAC frame}<|word_end|>, words joined by \\n; then \\n<|word_start|>.
The model continues word by word (text, features, codes) and ends with <|audio_end|>; the audio is every
<|c1_N|> (DAC codebook 1) and <|c2_N|> (codebook 2) it wrote, in order, cut to the shorter stream.
"""

from __future__ import annotations

import copy
import re
import unicodedata

import numpy as np

BOS, EOS = "<|im_start|>", "<|im_end|>"
TEXT_START, TEXT_END = "<|text_start|>", "<|text_end|>"
AUDIO_START, AUDIO_END = "<|audio_start|>", "<|audio_end|>"
WORD_START, WORD_END = "<|word_start|>", "<|word_end|>"
FEATURES, CODE = "<|features|>", "<|code|>"
GLOBAL_START, GLOBAL_END = "<|global_features_start|>", "<|global_features_end|>"
FEATURE_NAMES = ("energy", "spectral_centroid", "pitch")
CODES_PER_BOOK = 1025  # <|c1_0|>..<|c1_1024|> exist (the codec uses 0..1023)

# Text clean-up of interface v3, in order: (pattern, replacement).
_RULES = [
    (r"\.{2,}", "..."), (r"[“”„‟«»]", '"'), (r"[‘’‛‹›`´]", "'"), (r"[–—―−‐]", "-"), (r"-{2,}", "-"),
    (r"[\x00-\x1F\x7F-\x9F\u00AD\u200B-\u200D\uFEFF]", ""), (r"\s+", " "), (r"\s+([,.?!:;])", r"\1"),
    (r"([,.?!:;])(?=[^\s,.?!:;])", r"\1 "), (r"(\w)\s+'\s*(\w)", r"\1'\2"), (r"(\w)\s+'\s*([,.?!:;\s]|$)", r"\1'\2"),
]


def normalize(text: str) -> str:
    """The package's text normalization (mojibake fix with `ftfy` when installed, NFKC, quotes, dashes, spaces)."""
    try:
        import ftfy

        text = ftfy.fix_text(text)
    except ImportError:  # plain text is unchanged by ftfy
        pass
    text = unicodedata.normalize("NFKC", text).replace("…", "...")
    for pattern, repl in _RULES:
        text = re.sub(pattern, repl, text)
    text = re.sub(r"(\w)\s*'\s*([tsdmreSNTDMRE])\b", r"\1'\2", text, flags=re.IGNORECASE)
    text = re.sub(r"([?!])\1+", r"\1", text)
    return re.sub(r"\s+", " ", text).replace('"', "").strip()


def _is_cjk(text: str) -> bool:
    return any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in text)


def join_speaker_text(text: str, speaker_text: str) -> tuple[str, str]:
    """(speaker text + joint + text, the joint's visible part, which is appended to the profile's last word)."""
    speaker_text = speaker_text.strip()
    if not speaker_text:
        return text.strip(), ""
    cjk = _is_cjk(speaker_text)
    ends = ("。", "？", "！", "?", "!") if cjk else (".", "?", "!")
    joint = ("。" if cjk else ". ") if speaker_text[-1] not in ends else ("" if cjk else " ")
    return speaker_text + joint + text.strip(), joint.strip()


def feature_tokens(features: dict) -> str:
    return "".join(f"<|{k}_{features.get(k, 0)}|>" for k in FEATURE_NAMES)


def word_entry(word: dict) -> str:
    """One profile word: its text, duration, features and its DAC frames as c1/c2 token pairs."""
    pairs = "".join(f"<|c1_{a}|><|c2_{b}|>" for a, b in zip(word["c1"], word["c2"]))
    return (f"{WORD_START}{word['word']}{FEATURES}<|t_{word['duration']:.2f}|>{feature_tokens(word['features'])}"
            f"{CODE}{pairs}{WORD_END}")


PROMPT_VERSIONS = {2: "OuteTTS 0.2 / 0.3 (WavTokenizer codes, prompt_v2.py)", 3: "OuteTTS 1.0 (DAC codes)"}


def completion_prompt(text: str, speaker: dict | None = None, prompt_version: int = 3) -> str:
    """The prompt string the model continues (the speaker dict is not modified); `prompt_version` 2 is the
    OuteTTS 0.2 / 0.3 format (the package's interface v2, `prompt_v2.py`), 3 OuteTTS 1.0's."""
    if prompt_version == 2:
        from . import prompt_v2

        return prompt_v2.completion_prompt(text, speaker)
    if prompt_version != 3:
        raise ValueError(f"prompt_version {prompt_version!r}: known are {sorted(PROMPT_VERSIONS)}")
    text = normalize(text)
    entries = ""
    if speaker is not None:
        text, joint = join_speaker_text(text, speaker["text"])
        words = copy.deepcopy(speaker["words"])
        words[-1]["word"] += joint
        entries = "\n".join(word_entry(w) for w in words) + "\n" + WORD_START
    return f"{BOS}\n{TEXT_START}{text}{TEXT_END}\n{AUDIO_START}\n" + entries


class AudioTokens:
    """The ids of <|c1_N|> and <|c2_N|> in a tokenizer, and generated tokens -> DAC codes (2, frames)."""

    def __init__(self, tokenizer):
        ids = [[tokenizer.token_to_id(f"<|c{b}_{i}|>") for i in range(CODES_PER_BOOK)] for b in (1, 2)]
        if any(i is None for book in ids for i in book):
            raise ValueError("tokenizer lacks OuteTTS's audio tokens <|c1_N|>/<|c2_N|> (N < 1025)")
        self.ids = np.array(ids, dtype=np.int64)  # (2, 1025)
        self.code_of = [{int(t): c for c, t in enumerate(book)} for book in self.ids]

    def codes(self, tokens) -> np.ndarray:
        """Every c1 and every c2 token in order, cut to the shorter of the two -> codes (2, frames)."""
        t = [int(x) for x in np.asarray(tokens).reshape(-1)]
        books = [[m[x] for x in t if x in m] for m in self.code_of]
        n = min(len(b) for b in books)
        return np.array([b[:n] for b in books], dtype=np.int64).reshape(2, n)

    def placer(self):
        """A `cell(i, token) -> (codebook row, frame, code) | None` for a run's tokens, counting each book's frames."""
        seen = [0, 0]

        def cell(_i: int, token: int):
            for row, m in enumerate(self.code_of):
                if int(token) in m:
                    seen[row] += 1
                    return row, seen[row] - 1, m[int(token)]
            return None

        return cell

    def tokens(self, codes: np.ndarray) -> np.ndarray:
        """Codes (2, frames) -> the interleaved c1, c2 token ids (frames * 2,)."""
        codes = np.asarray(codes, dtype=np.int64)
        return np.stack([self.ids[0][codes[0]], self.ids[1][codes[1]]], axis=1).reshape(-1)


_PAIR = re.compile(r"(?:<\|c1_(\d+)\|><\|c2_(\d+)\|>)+")


def readable(prompt: str, shown: int = 2) -> str:
    """The prompt with each word's run of c1/c2 pairs shortened to its first `shown` frames and a frame count."""
    def shorten(m: re.Match) -> str:
        pairs = re.findall(r"<\|c1_(\d+)\|><\|c2_(\d+)\|>", m.group(0))
        head = " ".join(f"({a},{b})" for a, b in pairs[:shown])
        return f"[{len(pairs)} frames: {head}{' ...' if len(pairs) > shown else ''}]"

    return _PAIR.sub(shorten, prompt)
