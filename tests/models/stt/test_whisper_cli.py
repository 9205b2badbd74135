"""`mlx-audio-lab transcribe` with Whisper: `--word-timestamps --json` and `--output-format/--output-dir`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlx_audio_lab.writers import FORMATS, timestamp


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlx_audio_lab", "transcribe", *args], capture_output=True,
                          text=True, timeout=900)


@pytest.mark.slow
def test_words_json_and_every_output_format(espeak, tmp_path):
    """Real tiny.en on a spoken clip: words in the JSON, and the five files written agree with it."""
    import soundfile as sf

    from mlx_audio_lab.fixtures.speech import speech

    wav = tmp_path / "fox.wav"
    sf.write(wav, speech("fox"), 16000)
    out_dir = tmp_path / "out"
    p = cli("--model", "whisper-tiny.en", "--beam-size", "1", "--word-timestamps", "--json",
            "--output-format", "all", "--output-dir", str(out_dir), str(wav))
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert "lazy dog" in result["text"].lower()  # greedy hears "quick roundfire"
    words = [w for s in result["segments"] for w in s["words"]]
    assert all(s["words"] for s in result["segments"])
    assert all(set(w) == {"word", "start", "end", "probability"} for w in words)
    assert "".join(w["word"] for w in words).strip() == result["text"].strip()
    assert all(0 <= w["start"] <= w["end"] for w in words) and all(0 < w["probability"] <= 1 for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)

    assert sorted(f.name for f in out_dir.iterdir()) == sorted(f"fox.{f}" for f in FORMATS)
    seg = result["segments"][0]
    srt = (out_dir / "fox.srt").read_text()
    assert srt.startswith(f"1\n{timestamp(seg['start'])} --> {timestamp(seg['end'])}\n{seg['text'].strip()}\n")
    assert (out_dir / "fox.vtt").read_text().startswith("WEBVTT\n\n")
    assert (out_dir / "fox.txt").read_text().strip() == result["text"].strip()
    saved = json.loads((out_dir / "fox.json").read_text())
    assert [w["word"] for s in saved["segments"] for w in s["words"]] == [w["word"] for w in words]
    assert (out_dir / "fox.tsv").read_text().splitlines()[1].split("\t")[:2] == [
        str(round(seg["start"] * 1000)), str(round(seg["end"] * 1000))]


def test_word_timestamps_on_a_model_without_them_is_a_clear_error(tmp_path):
    import numpy as np
    import soundfile as sf

    from mlx_audio_lab.fixtures import build

    wav = tmp_path / "noise.wav"
    sf.write(wav, (np.random.default_rng(0).standard_normal(8000) * 0.1).astype(np.float32), 16000)
    p = cli("--model", str(build("wav2vec2")), "--word-timestamps", str(wav))
    assert p.returncode == 2 and "--word-timestamps:" in p.stderr and "has no such option" in p.stderr
    assert "Traceback" not in p.stderr
