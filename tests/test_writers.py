"""Transcript writers: exact text for a known transcript."""

from __future__ import annotations

import json

import pytest

from mlx_audio_lab import writers
from mlx_audio_lab.results import RunStats, Segment, Transcript, Word


def _transcript() -> Transcript:
    segs = [Segment(0.0, 1.5, " Hello there.", [1, 2], [Word(" Hello", 0.0, 0.6, 0.9), Word(" there.", 0.6, 1.5, 0.8)]),
            Segment(3661.25, 3662.0, " Bye.", [3])]
    return Transcript("Hello there. Bye.", segs, "en", [1, 2, 3], RunStats(16000, 3662.0))


def test_timestamps():
    assert writers.timestamp(3661.2506) == "01:01:01,251"
    assert writers.timestamp(1.5, ".", hours=False) == "00:01.500"
    assert writers.timestamp(-0.1) == "00:00:00,000"


def test_srt_vtt_txt_tsv():
    t = _transcript()
    assert writers.render(t, "srt") == ("1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
                                        "2\n01:01:01,250 --> 01:01:02,000\nBye.\n")
    assert writers.render(t, "vtt") == ("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n"
                                        "01:01:01.250 --> 01:01:02.000\nBye.\n")
    assert writers.render(t, "txt") == "Hello there.\nBye.\n"
    assert writers.render(t, "tsv") == "start\tend\ttext\n0\t1500\tHello there.\n3661250\t3662000\tBye.\n"


def test_json_keeps_words(tmp_path):
    path = writers.write(_transcript(), "json", tmp_path / "out", "clip")
    d = json.loads(path.read_text())
    assert [w["word"] for w in d["segments"][0]["words"]] == [" Hello", " there."]
    assert d["segments"][0]["words"][1]["end"] == 1.5 and not list(tmp_path.glob("out/.*"))


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown output format 'doc'"):
        writers.render(_transcript(), "doc")
