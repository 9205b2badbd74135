"""Whisper's `prefix` (faster-whisper's), and the CLI flags for prompts, prefix and temperature fallback.

The prefix is checked twice: its tokens sit where faster-whisper's `get_prompt` puts them, and the continuation
after it equals transformers' `generate` given the same tokens as `decoder_input_ids` (real tiny.en weights).
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from mlx_audio_lab import load
from mlx_audio_lab.models.stt.whisper.fallback import FallbackOptions, SeededDraws
from mlx_audio_lab.models.stt.whisper.transcribe import prefix_tokens, window_prompt

PREFIXES = ("The harbour", "  Hello there ", "x" * 600)  # the last one is cut to half the context


@pytest.fixture(scope="module")
def tiny():
    return load("whisper-tiny.en")


@pytest.fixture(scope="module")
def harbor(espeak):
    from mlx_audio_lab.fixtures.speech import speech

    return speech("harbor")


@pytest.mark.parametrize("timestamps", [True, False])
@pytest.mark.parametrize("prefix", PREFIXES)
def test_prefix_prompt_equals_faster_whisper(tiny, prefix, timestamps):
    """sot sequence + forced prefix tokens == faster-whisper's `get_prompt(prefix=...)` on the same tokenizer."""
    tokenizers = pytest.importorskip("tokenizers")
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import WhisperModel

    from mlx_audio_lab.hub import resolve

    fw_tok = Tokenizer(tokenizers.Tokenizer.from_file(str(resolve("whisper-tiny.en") / "tokenizer.json")),
                       multilingual=False, task="transcribe", language="en")
    expected = WhisperModel.get_prompt(SimpleNamespace(max_length=448), fw_tok, [], without_timestamps=not timestamps,
                                       prefix=prefix)
    tok = tiny.tokenizer
    forced = prefix_tokens(tok, prefix, timestamps, tiny.config.max_target_positions)
    ours = window_prompt(tok.sot_sequence(timestamps=timestamps), [], None, tok.sot_prev, tok.timestamp_begin, 223)
    assert ours + forced == expected
    assert len(forced) <= tiny.config.max_target_positions // 2


@pytest.mark.slow
@pytest.mark.parametrize("beam_size", [1, 5])
def test_prefix_continuation_equals_transformers(tiny, harbor, beam_size):
    """The words after a prefix equal transformers' generate with the prefix as decoder_input_ids, and the
    prefix changes them (it is not ignored): "harbour" is forced, the rest follows from it."""
    import torch

    from mlx_audio_lab.dsp import log_mel_spectrogram
    from mlx_audio_lab.hub import resolve
    from mlx_audio_lab.models.stt.whisper.reference import load_reference

    prefix = "The harbour"
    ours = tiny.transcribe(harbor, beam_size=beam_size, prefix=prefix, timestamps=False)
    plain = tiny.transcribe(harbor, beam_size=beam_size, timestamps=False)
    tok = tiny.tokenizer
    prompt = tok.sot_sequence(timestamps=False)
    forced = prefix_tokens(tok, prefix, False, tiny.config.max_target_positions)
    mel = np.array(log_mel_spectrogram(harbor, n_mels=tiny.config.num_mel_bins))[None]
    ref = load_reference(resolve("whisper-tiny.en"))
    with torch.no_grad():
        out = ref.generate(torch.from_numpy(mel).transpose(1, 2), decoder_input_ids=torch.tensor([prompt + forced]),
                           do_sample=False, num_beams=beam_size, length_penalty=1.0, return_timestamps=False,
                           return_dict_in_generate=True)
    expected = [t for t in out.sequences[0].tolist()[len(prompt):] if t != tiny.config.eos_token_id]
    assert ours.tokens == expected
    assert ours.tokens[: len(forced)] == forced and ours.text.startswith(prefix)
    assert ours.tokens != plain.tokens


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlx_audio_lab", "transcribe", *args], capture_output=True,
                          text=True, timeout=900)


@pytest.mark.slow
def test_cli_flags_reach_the_decoder(tiny, harbor, tmp_path):
    """--prefix, --initial-prompt and the fallback flags give the tokens the same options give in Python."""
    import soundfile as sf

    wav = tmp_path / "harbor.wav"
    sf.write(wav, harbor, 16000)
    runs = [
        (["--prefix", "The harbour"], dict(prefix="The harbour")),
        (["--initial-prompt", "Harbour lights, night ferry."], dict(initial_prompt="Harbour lights, night ferry.")),
        (["--temperature", "0", "0.6", "--logprob-threshold", "0", "--seed", "3"],
         dict(fallback=FallbackOptions((0.0, 0.6), logprob_threshold=0.0, draws=SeededDraws(3)))),
    ]
    for flags, options in runs:
        p = cli("--model", "whisper-tiny.en", "--beam-size", "1", "--json", *flags, str(wav))
        assert p.returncode == 0, p.stderr
        got = json.loads(p.stdout)
        want = tiny.transcribe(harbor, beam_size=1, **options)
        assert [t for s in got["segments"] for t in s["tokens"]] == want.tokens, flags
        assert got["text"].strip() == want.text.strip()
    # no average log-probability reaches 0: the window falls back to sampling at 0.6, so tokens differ
    greedy = tiny.transcribe(harbor, beam_size=1)
    assert want.tokens != greedy.tokens
