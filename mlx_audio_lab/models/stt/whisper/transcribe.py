"""Whole-clip transcription: log-mel, sequential 30 s windows, timestamped segments (transformers' long form).

The algorithm is `WhisperForConditionalGeneration.generate(..., return_timestamps=True)` of transformers 5.x
(its "sequential" long form, which follows openai/whisper): decode a 30 s window; if it ends in a single
timestamp, the window is done, else cut after the last timestamp *pair* and start the next window there
(a short clip too may take a second pass over its padded 30 s). With the same features, tokens and segment
times equal transformers' for greedy and beam search (checked on real tiny.en, short and 46 s clips).
Features as transformers gets them: a clip up to 30 s is zero-padded as *audio* to 480000 samples (the
feature extractor's default); a longer clip gets one log-mel over the whole clip (extractor with
`truncation=False, padding="longest"`) whose windows are zero-padded as *mel* to 3000 frames.
Temperature fallback, no-speech skipping and conditioning on previous text (`fallback.py`) are off by
default, as in transformers. Unlike transformers, `timestamps=False` on long audio decodes plain 30 s windows instead of
refusing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlx.core as mx
import numpy as np

from ....audio import load_audio
from ....dsp import log_mel_spectrogram
from ....errors import ArgumentError, WeightsError
from ....layers.cpu.transformer_native import blas_on_own_threads
from ....results import RunStats, Segment, Transcript, measure
from .decoding import detect_language, timestamp_begin
from .fallback import FallbackOptions, decode_with_fallback
from .timing import cross_attention, token_timestamps
from .words import group_words, timed_words

if TYPE_CHECKING:
    from .model import Whisper

SAMPLE_RATE = 16000
HOP = 160
N_SAMPLES = 30 * SAMPLE_RATE  # one window: 480000 samples, 3000 frames
TIME_PRECISION = 0.02  # seconds per timestamp token
FRAME_SECONDS = 0.01  # seconds per mel frame
INPUT_STRIDE = 2  # mel frames per timestamp step (conv2 strides by 2)


@dataclass
class WindowSegment:
    """A segment of one window: timestamp positions (0.02 s units from the window start) and its tokens."""

    start: float
    end: float
    tokens: list[int]


def features(audio: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """(frames, n_mels) log-mel as transformers' extractor gives it (30 s audio padding only for short clips)."""
    pad_to = N_SAMPLES if len(audio) <= N_SAMPLES else None
    return np.array(log_mel_spectrogram(audio, n_mels=n_mels, pad_to=pad_to))


def window(mel: np.ndarray, seek: int, n_frames: int = 3000) -> np.ndarray:
    """Frames [seek, seek + n_frames) zero-padded (as mel) to n_frames -> (1, n_frames, n_mels)."""
    w = mel[seek : seek + n_frames]
    if len(w) < n_frames:
        w = np.pad(w, [(0, n_frames - len(w)), (0, 0)])
    return w[None]


def split_segments(tokens: list[int], tb: int, seek_frames: int) -> tuple[list[WindowSegment], int]:
    """Segments of one window's tokens (end-of-text removed) and how many frames to advance.

    Follows transformers' `_retrieve_segment`: consecutive timestamps close a segment; text after the last
    pair is dropped and decoding resumes at that pair, unless the window ends in a single timestamp.
    """
    is_ts = [t >= tb for t in tokens]
    single_ending = is_ts[-2:] == [False, True]
    cuts = [i + 1 for i in range(len(is_ts) - 1) if is_ts[i] and is_ts[i + 1]]
    if not cuts:
        # one segment for the whole window; its end: the last timestamp if any (and not <|0.00|>), else the window
        end = float(int(np.float32(seek_frames) * np.float32(FRAME_SECONDS) / np.float32(TIME_PRECISION)))
        stamps = [t for t in tokens if t >= tb]
        if stamps and stamps[-1] != tb:
            end = float(stamps[-1] - tb)
        return [WindowSegment(0.0, end, list(tokens))], seek_frames
    if single_ending:
        cuts.append(len(tokens))
    else:
        cuts[-1] += 1  # keep both timestamps of the last pair in the last segment
    segments, prev = [], 0
    for i, cut in enumerate(cuts):
        piece = tokens[prev:cut]
        end_token = piece[-1] if i < len(cuts) - 1 or single_ending else piece[-2]
        segments.append(WindowSegment(float(piece[0] - tb), float(end_token - tb), piece))
        prev = cut
    if single_ending:
        return segments, seek_frames
    return segments, (tokens[prev - 2] - tb) * INPUT_STRIDE


def window_token_times(model: Whisper, audio: mx.array, prompt: list[int], out: list[int], ended: bool,
                       num_frames: int | None) -> tuple[np.ndarray, list[float]]:
    """DTW time (s from the window start) and probability of each new token of one window.

    As transformers' `generate(return_token_timestamps=True)`: the rows are the positions whose input is a
    generated token (all but the last one generated, end-of-text included); the DTW sees the clip's
    `num_frames` mel frames left from this window on (None: the whole window).
    """
    rows = out if ended else out[:-1]
    weights, probs = cross_attention(model, audio, prompt + rows)
    times, _ = token_timestamps(weights[:, len(prompt):], num_frames, model.config.median_filter_width)
    p = len(prompt) - 1  # the row predicting out[0]
    return times, [float(probs[p + k, t]) for k, t in enumerate(out)]


def window_words(model: Whisper, audio: mx.array, prompt: list[int], out: list[int], ended: bool,
                 pieces: list[WindowSegment], offset: float, num_frames: int, language: str | None) -> list[list]:
    """Words (times in s) of each segment of one window, grouped as transformers' pipeline groups them."""
    times, token_probs = window_token_times(model, audio, prompt, out, ended, num_frames)
    times = times + offset
    tok, eot = model.tokenizer, model.config.eos_token_id
    words, at = [], 0
    for piece in pieces:
        positions = [at + k for k, t in enumerate(piece.tokens) if t < eot]
        groups = group_words(tok.decode, [out[k] for k in positions], eot, language)
        words.append(timed_words(groups, positions, times, token_probs, offset))
        at += len(piece.tokens)
    return words


def transcribe(model: Whisper, audio: np.ndarray | str | Path, *, beam_size: int = 5, language: str | None = None,
               task: str = "transcribe", timestamps: bool = True, word_timestamps: bool = False,
               initial_prompt: str | None = None, prompt_ids: list[int] | None = None, prefix: str | None = None,
               fallback: FallbackOptions | None = None, max_new_tokens: int | None = None,
               progress: bool = False) -> Transcript:
    """Speech (array at 16 kHz or a file) -> Transcript with segments (seconds), language and run stats.

    `word_timestamps`: each segment gets its words (alignment heads + DTW). `initial_prompt` (text) or
    `prompt_ids` (after `<|startofprev|>`) go before every window, as transformers' `prompt_ids`; `prefix`
    (text) is forced as the start of the first window's transcript, as faster-whisper's `prefix`;
    `fallback`: temperatures, thresholds and conditioning on previous text (off by default, as in transformers).
    """
    tok = model.tokenizer
    if tok is None:
        raise WeightsError(f"{getattr(model, 'source', 'model')}: no tokenizer.json, cannot transcribe")
    if not tok.multilingual and (task != "transcribe" or language not in (None, "en")):
        raise ArgumentError(f"an English-only Whisper cannot take language={language!r}, task={task!r}; "
                            "leave --language out (or pass en), or use a multilingual model")
    if tok.multilingual and language is not None and language not in tok.language_ids:
        raise ArgumentError(f"unknown language {language!r}; this model knows {', '.join(tok.language_ids)}")
    opts = fallback or FallbackOptions()
    if initial_prompt is not None:
        prompt_ids = tok.encode(" " + initial_prompt.strip())
    first_forced = prefix_tokens(tok, prefix, timestamps, model.config.max_target_positions)
    stats = RunStats(sample_rate=SAMPLE_RATE)
    # on the CPU every BLAS product runs on the C kernels' two threads (MLX's OpenBLAS on one): a product of its own
    # pool (the log-mel's filterbank) would leave its threads spinning beside the encoder's and the steps' threads
    with measure(stats), blas_on_own_threads():
        wav = load_audio(audio, SAMPLE_RATE)
        stats.audio_duration = len(wav) / SAMPLE_RATE
        mel = features(wav, model.config.num_mel_bins)
        n_frames, total = model.config.n_frames, len(mel)
        clip_frames = -(-len(wav) // HOP)  # frames of real audio (the extractor's attention mask)
        first = model.embed_audio(mx.array(window(mel, 0, n_frames)))
        if tok.multilingual and language is None:
            language, _ = detect_language(model, first)
        init = tok.sot_sequence(language if tok.multilingual else None, task, timestamps)
        tb = timestamp_begin(model)
        segments: list[Segment] = []
        history = [list(prompt_ids)] if prompt_ids else []  # token runs the next window may be conditioned on
        condition = opts.condition_on_previous_text
        bar = _progress(total, progress)
        seek = 0
        while seek < total:
            seek_frames = min(total - seek, n_frames)
            audio_feats = first if seek == 0 else model.embed_audio(mx.array(window(mel, seek, n_frames)))
            prompt = window_prompt(init, history if condition else [], prompt_ids, tok.sot_prev, tb,
                                   model.config.max_target_positions // 2 - 1)
            forced = first_forced if seek == 0 else []
            attempt = decode_with_fallback(model, audio_feats, prompt, beam_size, timestamps, opts, max_new_tokens,
                                           forced)
            condition = opts.condition_on_previous_text and attempt.temperature < 0.5
            if attempt.skip:  # silence: no segment, on to the next window
                seek += seek_frames
                continue
            ended = bool(attempt.tokens) and attempt.tokens[-1] == model.config.eos_token_id
            out = attempt.tokens[:-1] if ended else attempt.tokens
            offset = seek * FRAME_SECONDS
            if timestamps:
                pieces, advance = split_segments(out, tb, seek_frames)
            else:
                pieces, advance = [WindowSegment(0.0, seek_frames / INPUT_STRIDE, out)], seek_frames
            words = [[] for _ in pieces]
            if word_timestamps and out:
                words = window_words(model, audio_feats, prompt, out, ended, pieces, offset, clip_frames - seek,
                                     language or "en")
            for p, w in zip(pieces, words):
                segments.append(Segment(offset + p.start * TIME_PRECISION, offset + p.end * TIME_PRECISION,
                                        tok.decode(p.tokens).strip(), p.tokens, w))
                history.append(p.tokens)
            seek += advance
            if bar is not None:
                bar.update(min(seek, total) - bar.n)
        if bar is not None:
            bar.close()
        tokens = [t for s in segments for t in s.tokens]
        stats.token_count = len(tokens)
        text = tok.decode(tokens).strip()
    return Transcript(text, segments, language or ("en" if not tok.multilingual else None), tokens, stats)


def prefix_tokens(tok: Any, prefix: str | None, timestamps: bool, max_length: int) -> list[int]:
    """The tokens a `prefix` forces at the start of the first window, as faster-whisper's `get_prompt` puts them:
    `<|0.00|>` (with timestamps) then the text's tokens, at most half the context."""
    if not prefix or not prefix.strip():
        return []
    text = tok.encode(" " + prefix.strip())[: max_length // 2 - 1]
    return [tok.timestamp_begin, *text] if timestamps else text


def window_prompt(init: list[int], history: list[list[int]], prompt_ids: list[int] | None, sot_prev: int,
                  tb: int, keep: int) -> list[int]:
    """The decoder prompt of a window (transformers' `_prepare_decoder_input_ids`): `<|startofprev|>` and the last
    `keep` previous tokens (a segment's closing timestamp pair counted once) when conditioning, else the
    prompt ids, then the start-of-transcript sequence."""
    if history:
        prev = [t for run in history for t in (run[:-1] if len(run) > 2 and run[-2] >= tb else run)]
        return [sot_prev, *prev[-keep:], *init]
    if prompt_ids:
        return [sot_prev, *prompt_ids, *init]
    return list(init)


def _progress(total_frames: int, enabled: bool):
    """A tqdm bar over the clip's frames (advanced window by window), or None."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total_frames, unit="frame", desc="transcribe")
