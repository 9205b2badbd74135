"""Tokens -> words: split at spaces (or at whole code points for unspaced scripts), merge punctuation,
and time each word from its tokens' DTW times (transformers' `_combine_tokens_into_words` and
`_collate_word_timestamps`, which follow openai/whisper)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ....results import Word

PREPEND_PUNCTUATION = "\"'“¡¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"
UNSPACED = {"zh", "ja", "th", "lo", "my", "yue"}  # scripts without spaces between words
ASCII_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
REPLACEMENT = "\ufffd"

Group = tuple[str, list[int]]  # (text, indices of its tokens)


def split_on_code_points(decode: Callable[[list[int]], str], tokens: Sequence[int]) -> list[Group]:
    """Cut wherever the tokens so far decode to whole characters (no dangling UTF-8 bytes)."""
    full = decode(list(tokens))
    groups: list[Group] = []
    run: list[int] = []
    offset = 0
    for i in range(len(tokens)):
        run.append(i)
        text = decode([tokens[k] for k in run])
        bad = text.find(REPLACEMENT)
        if bad < 0 or offset + bad >= len(full) or full[offset + bad] == REPLACEMENT:
            groups.append((text, run))
            run = []
            offset += len(text)
    return groups


def split_on_spaces(decode: Callable[[list[int]], str], tokens: Sequence[int], eot: int) -> list[Group]:
    """Whole characters joined into words: a new word at a leading space, a punctuation mark or a special token."""
    words: list[Group] = []
    for text, idx in split_on_code_points(decode, tokens):
        starts = tokens[idx[0]] >= eot or text.startswith(" ") or text.strip() in ASCII_PUNCTUATION
        if starts or not words:
            words.append((text, list(idx)))
        else:
            words[-1] = (words[-1][0] + text, words[-1][1] + idx)
    return words


def merge_punctuation(words: list[Group], prepend: str = PREPEND_PUNCTUATION,
                      append: str = APPEND_PUNCTUATION) -> list[Group]:
    """Opening marks join the next word, closing marks the previous one; empty groups are dropped."""
    words = [(t, list(i)) for t, i in words]
    j = len(words) - 1
    for i in range(len(words) - 2, -1, -1):
        text, idx = words[i]
        if text.startswith(" ") and text.strip() in prepend:
            words[j] = (text + words[j][0], idx + words[j][1])
            words[i] = ("", [])
        else:
            j = i
    i = 0
    for j in range(1, len(words)):
        if not words[i][0].endswith(" ") and words[j][0] in append:
            words[i] = (words[i][0] + words[j][0], words[i][1] + words[j][1])
            words[j] = ("", [])
        else:
            i = j
    return [(t, i) for t, i in words if t]


def group_words(decode: Callable[[list[int]], str], tokens: Sequence[int], eot: int,
                language: str | None = "en") -> list[Group]:
    """Words of a run of text tokens, with the indices of their tokens."""
    if language in UNSPACED:
        groups = split_on_code_points(decode, tokens)
    else:
        groups = split_on_spaces(decode, tokens, eot)
    return merge_punctuation(groups)


def timed_words(groups: list[Group], positions: Sequence[int], times: np.ndarray, probs: np.ndarray,
                start: float) -> list[Word]:
    """Words of a segment; `positions[k]`: where its k-th text token sits in the window's tokens, whose
    DTW times and probabilities are `times` and `probs`.

    A token spans (time of the token before it, its own time), `start` for the window's first token;
    a word spans its tokens; its probability is the mean of theirs. Times rounded to 0.01 s.
    """
    out = []
    for text, idx in groups:
        a, b = positions[idx[0]], positions[idx[-1]]
        t0 = times[a - 1] if a > 0 else start
        out.append(Word(text, round(float(t0), 2), round(float(times[b]), 2),
                        float(np.mean([probs[positions[k]] for k in idx]))))
    return out
