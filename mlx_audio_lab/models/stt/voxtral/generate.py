"""Voxtral inference: features in 30 s chunks, prompts, greedy decoding with mlx-lm's KV cache.

Features as transformers' `VoxtralProcessor` makes them: the audio zero-padded to a multiple of 30 s,
one Whisper log-mel over all of it (128 mels), cut into chunks of 3000 frames (375 audio tokens each).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

from ....audio import load_audio
from ....dsp import log_mel_spectrogram
from ....results import RunStats, Segment, Transcript, measure

if TYPE_CHECKING:
    from .model import Voxtral

SAMPLE_RATE = 16000
CHUNK = 30 * SAMPLE_RATE  # samples per 3000-frame chunk


def features(audio: np.ndarray, n_mels: int = 128) -> np.ndarray:
    """Mono 16 kHz audio -> log-mel chunks (chunks, 3000, n_mels)."""
    n = max(1, -(-len(audio) // CHUNK))
    mel = np.array(log_mel_spectrogram(audio, n_mels=n_mels, pad_to=n * CHUNK))  # (n * 3000, n_mels)
    return mel.reshape(n, -1, n_mels)


def greedy(model: Voxtral, prompt: list[int], mel: mx.array, max_new_tokens: int = 64) -> list[int]:
    """Greedy continuation of a prompt with audio placeholders; ends with EOS if the model emits it."""
    cache = model.make_cache()
    x = model.embed_inputs(mx.array([prompt]), model.embed_audio(mel))
    logits = model.decode(x, cache)
    out: list[int] = []
    eos = model.config.eos_token_id
    while len(out) < max_new_tokens:
        token = int(mx.argmax(logits[0, -1]).item())
        out.append(token)
        if token == eos:
            break
        logits = model.decode(model.embed_tokens(mx.array([[token]])), cache)
    return out


def _run(model: Voxtral, audio, make_prompt, max_new_tokens: int,
         sample_rate: int | None) -> tuple[list[int], RunStats, float]:
    if model.tokenizer is None:
        raise ValueError(f"{model.source}: no tokenizer.json beside the weights; pass token ids to `greedy`")
    wav = load_audio(audio, SAMPLE_RATE, source_rate=sample_rate)
    stats = RunStats(SAMPLE_RATE, audio_duration=len(wav) / SAMPLE_RATE)
    with measure(stats):
        mel = mx.array(features(wav, model.config.audio_config["num_mel_bins"]))
        prompt = make_prompt(mel.shape[0] * model.config.tokens_per_chunk)
        tokens = greedy(model, prompt, mel, max_new_tokens)
    stats.token_count = len(tokens)
    return tokens, stats, len(wav) / SAMPLE_RATE


def transcribe(model: Voxtral, audio, language: str | None = "en", max_new_tokens: int = 256,
               sample_rate: int | None = None, timestamps: bool = False, progress: bool = False) -> Transcript:
    """Speech (file, or array at `sample_rate`, default 16 kHz) -> `Transcript` via `lang:xx[TRANSCRIBE]`.

    `language=None` leaves the language to the model. Decoding is greedy (no beam option) and Voxtral has no
    timestamps: `timestamps` exists for the common STT interface (one segment either way).
    """
    tok = model.tokenizer
    tokens, stats, seconds = _run(model, audio, lambda n: tok.transcription_prompt(n, language), max_new_tokens,
                                  sample_rate)
    text = tok.decode(tokens).strip()
    return Transcript(text, [Segment(0.0, seconds, text, tokens)], language, tokens, stats)


def ask(model: Voxtral, audio, question: str, max_new_tokens: int = 256, sample_rate: int | None = None) -> str:
    """The model's answer to a question about the audio (one user turn: audio, then the question)."""
    tok = model.tokenizer
    tokens, _, _ = _run(model, audio, lambda n: tok.chat_prompt(n, question), max_new_tokens, sample_rate)
    return tok.decode(tokens).strip()
