"""The prompt of OuteTTS 0.2 / 0.3 (interface v2 of the `outetts` package, the WavTokenizer era).

Where it differs from 1.0 (`prompt.py`): the text is lower-cased letters only, numbers spelled out, punctuation
kept as named tokens (<|period|>, <|comma|> ...) glued to its word, words joined by <|space|>; a profile word is
  {punctuation before}{word}{punctuation after}<|t_{duration:.2f}|>{<|N|> per WavTokenizer frame}
(one codebook of 4100 codes, 75 frames/s, no features), words joined by <|space|>\\n, then <|space|>\\n.
An optional emotion goes between the text and <|audio_start|>. Only the prompt is ported: the WavTokenizer codec
that turns <|N|> codes into audio is not (OuteTTS 1.0's DAC is).
"""

from __future__ import annotations

import re
import string

import numpy as np

SPACE, TEXT_START, TEXT_END = "<|space|>", "<|text_start|>", "<|text_end|>"
BOS, AUDIO_START = "<|im_start|>", "<|audio_start|>"
EMOTION = re.compile(r"(<\|emotion_start\|>.*?<\|emotion_end\|>)")
CODES = 4100  # <|0|> .. <|4099|>: WavTokenizer's codebook
PUNCTUATION = {
    ".": "<|period|>", "!": "<|exclamation_mark|>", "?": "<|question_mark|>", ",": "<|comma|>",
    '"': "<|double_quote|>", "„": "<|low_double_quote|>", "¡": "<|inverted_exclamation|>",
    "¿": "<|inverted_question|>", "…": "<|ellipsis|>", "...": "<|ellipsis|>", "。": "<|cjk_period|>",
    "！": "<|cjk_exclamation|>", "？": "<|cjk_question|>", "，": "<|cjk_comma|>", "؟": "<|arabic_question|>",
}
_KEPT = re.compile("[^a-zA-Z\u0080-\uffff" + "".join(re.escape(p) for p in PUNCTUATION) + r"\s]")
_NUMBER = re.compile(r"\d+(\.\d+)?")
_LONE_SPACE = re.compile(r"(?<!\s)\s(?!\s)")


def _is_cjk(text: str) -> bool:
    return any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in text)


def segment(text: str) -> list[str]:
    """Word pieces as MeCab's wakati splits them: runs of letters, runs of digits, every other symbol alone.

    Japanese / Chinese text needs MeCab itself (mecab-python3 + unidic-lite), as the package uses it.
    """
    if _is_cjk(text):
        try:
            import MeCab
        except ImportError as e:
            raise ValueError("the v2 prompt of CJK text needs MeCab: pip install mecab-python3 unidic-lite") from e
        return MeCab.Tagger("-Owakati").parse(text).split()
    return re.findall(r"[^\W\d_]+|\d+|\S", text)


def spaced(text: str) -> str:
    """Pieces re-joined: punctuation tokens glued to the piece before, everything else two spaces apart."""
    pieces = segment(text.replace("'", "").replace("`", ""))
    if not pieces:
        raise ValueError("the v2 prompt needs some text (got none after clean-up)")
    out = pieces[0] + "".join((" " if p in PUNCTUATION else "  ") + p for p in pieces[1:])
    return _LONE_SPACE.sub("", out)


def _ascii(text: str) -> str:
    if text.isascii():
        return text
    try:
        from anyascii import anyascii
    except ImportError as e:
        raise ValueError("the v2 prompt transliterates non-ASCII text: pip install anyascii") from e
    return anyascii(text)


def _spell_numbers(text: str) -> str:
    if not _NUMBER.search(text):
        return text
    try:
        import inflect
    except ImportError as e:
        raise ValueError("the v2 prompt spells numbers out in words: pip install inflect") from e
    engine = inflect.engine()
    return _NUMBER.sub(lambda m: engine.number_to_words(m.group()), text)


def _glued(words: list[str]) -> list[str]:
    """Punctuation tokens appended to the word before; lone punctuation dropped."""
    i = 0
    while i < len(words):
        if words[i] in PUNCTUATION and i > 0:
            words[i - 1] += words.pop(i)
        else:
            i += 1
    return [w for w in words if w not in PUNCTUATION and not all(c in string.punctuation for c in w)]


def words_of(chunk: str) -> list[dict]:
    """One text chunk -> [{"word": letters, "before": [punctuation tokens], "after": [...]}] (the v2 text rules)."""
    text = _ascii(spaced(chunk))
    for dash in ("—", "–", "-"):
        text = text.replace(dash, " ")
    text = _KEPT.sub("", _spell_numbers(text.lower()))
    original = re.sub(r"\s+", " ", text).strip().lower()
    words = [{"word": w} for w in re.sub(r"[^a-z\s]", "", original).split()]
    for idx, shown in enumerate(_glued(original.split())):
        if idx >= len(words):
            raise ValueError(f"the v2 text rules lost a word of {chunk!r} (the package fails here too)")
        m = re.search(words[idx]["word"], shown.lower())
        head, tail = (shown[:m.start()], shown[m.end():]) if m else ("", "")
        words[idx]["before"] = [PUNCTUATION[c] for c in head if c in PUNCTUATION]
        words[idx]["after"] = [PUNCTUATION[c] for c in tail if c in PUNCTUATION]
    return words


def process_text(text: str) -> list[dict]:
    """The text's words; emotion blocks (<|emotion_start|>...<|emotion_end|>) pass through as they are."""
    out: list[dict] = []
    for chunk in EMOTION.split(text):
        if chunk.strip().startswith("<|emotion_start|>"):
            out.append({"word": chunk, "before": [], "after": []})
        elif chunk.strip():
            out.extend(words_of(chunk))
    return out


def _shown(word: dict, text: str | None = None) -> str:
    return "".join(word.get("before", [])) + (word["word"] if text is None else text) + "".join(word.get("after", []))


def audio_prompt(processed: list[dict], speaker: dict) -> str:
    """The profile's words: punctuation, word, <|t_d|> and its <|N|> codes; emotion blocks kept in place."""
    entries, idx = [], 0
    for item in processed:
        if "<|emotion_start|>" in item["word"]:
            entries.append(item["word"])
            continue
        spoken = speaker["words"][idx]
        if spoken["word"] != item["word"]:
            raise ValueError(f"speaker word {idx} is {spoken['word']!r} but its text gives {item['word']!r}")
        codes = "".join(f"<|{c}|>" for c in spoken["codes"])
        entries.append(f"{_shown(item, spoken['word'])}<|t_{spoken['duration']:.2f}|>{codes}")
        idx += 1
    return (SPACE + "\n").join(entries)


def completion_prompt(text: str, speaker: dict | None = None, emotion: str | None = None) -> str:
    """The v2 prompt string the model continues (speaker: {"text", "words": [{"word","duration","codes"}]})."""
    words = SPACE.join(_shown(w) for w in process_text(text))
    if speaker is not None:
        spoken = process_text(speaker["text"])
        words = SPACE.join(_shown(w) for w in spoken) + SPACE + words
    prompt = f"{BOS}\n{TEXT_START}{words}{TEXT_END}\n"
    if emotion is not None:
        prompt += f"<|voice_characteristic_start|>{emotion}<|voice_characteristic_end|>\n"
    prompt += AUDIO_START + "\n"
    if speaker is not None:
        prompt += audio_prompt(spoken, speaker) + SPACE + "\n"
    return prompt


def special_tokens() -> list[str]:
    """The v2 vocabulary's added tokens that prompts and outputs use (codes, durations, markup, punctuation)."""
    named = [BOS, "<|im_end|>", TEXT_START, TEXT_END, AUDIO_START, "<|audio_end|>", SPACE,
             "<|voice_characteristic_start|>", "<|voice_characteristic_end|>", "<|emotion_start|>",
             "<|emotion_end|>", "<|text_sep|>", "<|syllable_sep|>"]
    named += sorted(set(PUNCTUATION.values()))
    return named + [f"<|t_{i / 100:.2f}|>" for i in range(1001)] + [f"<|{i}|>" for i in range(CODES)]


def audio_codes(tokenizer, tokens) -> np.ndarray:
    """Every <|N|> (N < 4100) among generated token ids, in order -> WavTokenizer codes (frames,)."""
    code_of = {tokenizer.token_to_id(f"<|{i}|>"): i for i in range(CODES)}
    return np.array([code_of[int(t)] for t in np.asarray(tokens).reshape(-1) if int(t) in code_of], dtype=np.int64)
