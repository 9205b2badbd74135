"""How request options map onto a port's `transcribe` keywords: passed when the port takes them, named in
X-Unsupported-Options when it does not, and a 400 for a translation the port cannot do."""

from __future__ import annotations

import pytest

from mlx_audio_lab.server.errors import APIError
from mlx_audio_lab.server.transcription import parse_options, transcribe_kwargs


class WhisperLike:
    def transcribe(self, audio, *, beam_size=5, language=None, task="transcribe", word_timestamps=False,
                   initial_prompt=None):
        raise AssertionError("not called")


class CTCLike:
    def transcribe(self, audio, sample_rate=None, beam_size=None, language=None):
        raise AssertionError("not called")


def _opts(**form):
    return parse_options({"response_format": "verbose_json", **form}, beam_default=5)


def test_options_reach_a_port_that_takes_them():
    opts = _opts(prompt="Kenji Watanabe", temperature="0.4", language="en",
                 timestamp_granularities=["segment", "word"])
    kwargs, ignored = transcribe_kwargs(WhisperLike(), opts, "translate")
    assert kwargs == {"beam_size": 5, "language": "en", "task": "translate", "initial_prompt": "Kenji Watanabe",
                      "word_timestamps": True}
    assert ignored == ["temperature"]


def test_defaults_pass_only_what_the_cli_passes():
    kwargs, ignored = transcribe_kwargs(WhisperLike(), _opts(), "transcribe")
    assert kwargs == {"beam_size": 5} and ignored == []


def test_options_a_port_lacks_are_reported_and_translation_refused():
    kwargs, ignored = transcribe_kwargs(CTCLike(), _opts(prompt="x", temperature="0.2", beam_size="3"), "transcribe")
    assert kwargs == {"beam_size": 3} and ignored == ["temperature", "prompt"]
    with pytest.raises(APIError, match="cannot translate") as err:
        transcribe_kwargs(CTCLike(), _opts(), "translate")
    assert err.value.status == 400
