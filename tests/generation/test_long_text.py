"""Long text through TTS sentence by sentence (`text.speak_sentences`, used by `speak`): the sentences it cuts,
audio equal to the concatenation of per-sentence `generate` runs (sentence i seeded `seed + i`) for Kokoro's
bundled real weights and the LM-TTS fixtures (Orpheus, CSM, OuteTTS), and a progress line per sentence."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

import mlx_audio_lab
from mlx_audio_lab.fixtures import build
from mlx_audio_lab.text import speak_sentences, split_sentences

TEXT = "The harbor was quiet. Boats rocked slowly! Did anyone see the light?"
SENTENCES = ["The harbor was quiet.", "Boats rocked slowly!", "Did anyone see the light?"]
SHORT = "Hi there. Go!"  # for the real Kokoro (82 M parameters): two short sentences keep it fast on a CPU
SHORT_SENTENCES = ["Hi there.", "Go!"]


@pytest.mark.parametrize("text, want", [
    (TEXT, SENTENCES),
    ("Dr. Smith paid $3.50, e.g. for tea. Then he left.", ["Dr. Smith paid $3.50, e.g. for tea.", "Then he left."]),
    ('He said "Stop." Then silence\u2026 Done; over', ['He said "Stop."', "Then silence\u2026", "Done;", "over"]),
    ("line one\n\nline two", ["line one", "line two"]),
    ("\u4f60\u597d\u3002\u6211\u5f88\u597d\uff01", ["\u4f60\u597d\u3002", "\u6211\u5f88\u597d\uff01"]),
    ("J. R. R. Tolkien wrote it. Yes.", ["J. R. R. Tolkien wrote it.", "Yes."]),
    ("  \n ", []),
])
def test_split_sentences(text, want):
    assert split_sentences(text) == want


def _outetts_speaker(tmp_path_factory) -> str:
    """The shipped OuteTTS profile cut to three words (a short prompt keeps the runs fast)."""
    from mlx_audio_lab.models.tts.outetts import reference as ref

    speaker = ref.shipped_speaker()
    speaker.update(text="The cat watched", words=speaker["words"][:3])
    path = tmp_path_factory.mktemp("speaker") / "short.json"
    path.write_text(json.dumps(speaker))
    return str(path)


# model -> (folder, options): sampled runs (seeded) where the model samples tokens, few frames to stay fast
PORTS = {
    "kokoro": (lambda f: "kokoro-82m", {"voice": "jf_alpha"}),  # the bundled voices are Japanese; en-us G2P
    "orpheus": (lambda f: build("orpheus"), {"voice": "tara", "max_frames": 8, "seed": 5}),
    "csm": (lambda f: build("csm"), {"max_frames": 6, "seed": 5}),
    "outetts": (lambda f: build("outetts"), {"voice": _outetts_speaker, "max_frames": 6, "seed": 5}),
}


@pytest.mark.parametrize("port", list(PORTS))
def test_long_text_equals_the_sentences_spoken_one_by_one(port, tmp_path_factory):
    where, options = PORTS[port]
    options = {k: (v(tmp_path_factory) if callable(v) else v) for k, v in options.items()}
    model = mlx_audio_lab.load(where(None))
    seen = []
    text, sentences = (SHORT, SHORT_SENTENCES) if port == "kokoro" else (TEXT, SENTENCES)
    long = list(speak_sentences(model, text, lambda i, n, s, r: seen.append((i, n, s, len(r))), **options))
    base = options.pop("seed", 0)
    per_sentence = [list(model.generate(s, seed=base + i, **options)) for i, s in enumerate(sentences)]
    assert [(i, n, s) for i, n, s, _ in seen] == [(i, len(sentences), s) for i, s in enumerate(sentences)]
    assert [k for *_, k in seen] == [len(r) for r in per_sentence] and all(len(r) for r in per_sentence)
    got = np.concatenate([np.asarray(c.audio, np.float32).reshape(-1) for c in long])
    want = np.concatenate([np.asarray(c.audio, np.float32).reshape(-1) for r in per_sentence for c in r])
    assert len(got) > 0 and float(np.abs(want).max()) > 1e-3
    np.testing.assert_array_equal(got, want)
    # one sentence alone is exactly `generate` (seed unchanged)
    one = [c.audio for c in speak_sentences(model, sentences[0], seed=base, **options)]
    np.testing.assert_array_equal(np.concatenate(one), np.concatenate([c.audio for c in per_sentence[0]]))


def test_speak_cli_reports_each_sentence_on_stderr(tmp_path, capsys):
    """`speak` of three sentences (the Orpheus fixture, greedy): one progress line per sentence on stderr, stdout
    only the result line, and the written audio and codes equal the helper's."""
    from mlx_audio_lab.cli import main

    folder = build("orpheus")
    model = mlx_audio_lab.load(folder)
    out, codes_out = tmp_path / "long.wav", tmp_path / "codes.npy"
    args = ["speak", "--model", str(folder), "--voice", "tara", "--temperature", "0", "--max-frames", "8",
            "--codes-out", str(codes_out), "--out", str(out)]
    assert main([*args, TEXT]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("speak: sentence")]
    assert [line.split(":")[1].strip() for line in lines] == ["sentence 1/3", "sentence 2/3", "sentence 3/3"]
    assert all(" s of audio in " in line for line in lines)
    assert "speak:" not in captured.out and captured.out.splitlines()[-1].startswith(f"{out}:")
    results = list(speak_sentences(model, TEXT, voice="tara", temperature=0, max_frames=8))
    want = np.concatenate([c.audio for c in results])
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 24_000 and len(audio) == len(want) == 3 * 8 * 2048
    np.testing.assert_array_equal(audio, want)  # FLOAT WAV: exact
    np.testing.assert_array_equal(np.load(codes_out), np.concatenate([c.extras["codes"] for c in results], axis=1))
    assert main([*args, SENTENCES[0]]) == 0
    assert "speak: sentence" not in capsys.readouterr().err  # one sentence: no progress lines


def test_a_whole_text_model_gets_its_text_in_one_call():
    """Dia's dialogue tags hold across sentences: `speak_sentences` hands it the text unsplit (one progress call)."""
    from mlx_audio_lab.models.tts.dia.model import Dia

    calls, seen = [], []

    class Whole:
        whole_text = Dia.whole_text

        def generate(self, text, seed=0):
            calls.append((text, seed))
            yield text

    text = "[S1] Hello there. How are you? [S2] Fine, thanks."
    assert list(speak_sentences(Whole(), text, lambda i, n, s, r: seen.append((i, n)))) == [text]
    assert calls == [(text, 0)] and seen == [(0, 1)]
    assert len(split_sentences(text)) == 3  # what a sentence-wise model would get
