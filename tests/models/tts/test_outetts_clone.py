"""OuteTTS voice cloning and the v0.2 / v0.3 prompt: a speaker profile built from an espeak-ng clip (word timings
from the project's Whisper on real tiny.en, codes from the project's DAC) equal to the `outetts` package's
`create_speaker` on the same clip and timings; the cloned prompt and greedy tokens equal to transformers' Llama;
`speak --voice clip.wav --voice-out`; bad clips; the v2 prompt token for token against the package."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from mlx_audio_lab.fixtures import build
from mlx_audio_lab.fixtures.speech import espeak_available, speech_clip
from mlx_audio_lab.models.tts.outetts import clone
from mlx_audio_lab.models.tts.outetts import prompt_v2 as v2
from mlx_audio_lab.models.tts.outetts import reference as ref

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("outetts") is None, reason="outetts is not installed"),
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng speaks the reference clip"),
]


@pytest.fixture(scope="module")
def folder():
    return build("outetts")


@pytest.fixture(scope="module")
def model(folder):
    from mlx_audio_lab import load

    return load(folder)


@pytest.fixture(scope="module")
def clip():
    return speech_clip(ref.CLONE_TEXT)  # 22.05 kHz: the resampling to 24 kHz is exercised too


@pytest.fixture(scope="module")
def whisper():
    from mlx_audio_lab.hub import resolve
    from mlx_audio_lab.models.stt.whisper import load_model

    return load_model(resolve("whisper-tiny.en"))


@pytest.fixture(scope="module")
def timed(clip, whisper):
    """Word timings with the clip's transcript forced (tiny.en alone mishears espeak-ng: "Light Slickerness")."""
    return clone.whisper_words(clip, whisper, ref.CLONE_TEXT)


@pytest.fixture(scope="module")
def profiles(folder, model, clip, timed):
    text, words = timed
    mine = clone.create_speaker(clip, model.codec, transcript=text, words=words)
    return mine, ref.reference_speaker(folder, clip, text, words)


def test_whisper_times_the_clip_words(timed):
    text, words = timed
    assert [w.word for w in words] == ref.CLONE_TEXT.split(), text  # --voice-text: the given words, timed
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(w.end > w.start for w in words) and 2.0 < words[-1].end < 4.0


def test_profile_equals_the_package(profiles):
    mine, theirs = profiles
    assert mine.keys() == theirs.keys() == {"text", "words", "global_features", "interface_version"}
    assert [w["word"] for w in mine["words"]] == [w["word"] for w in theirs["words"]]
    for a, b in zip(mine["words"], theirs["words"]):
        assert a["c1"] == b["c1"] and a["c2"] == b["c2"], a["word"]  # codes identical
        assert a["duration"] == b["duration"] and a["features"] == b["features"], a["word"]
    assert mine == theirs  # every JSON field
    frames = sum(len(w["c1"]) for w in mine["words"])
    assert frames > 150 and len(set(c for w in mine["words"] for c in w["c1"])) > 50  # varied codes
    assert len({w["features"]["pitch"] for w in mine["words"]}) > 2  # the features move word to word


def test_features_and_loudness_within_tolerance(folder, clip, profiles):
    import torch

    module, processor = ref.package_audio_processor(folder)
    audio = clone.read_clip(clip)
    theirs = processor.audio_codec.load_audio(str(clip))  # (1, 1, T) at 24 kHz, torchaudio's resampling
    np.testing.assert_allclose(audio, theirs[0, 0].numpy(), atol=1e-6)
    raw = module.Features("cpu")
    raw.scale_values = lambda v: v  # the package's features before rounding
    mine_norm = clone.normalize_loudness(audio)
    loudness = ref.outetts_module("dac.interface").process_audio_tensor  # the package's normalisation
    want_norm = loudness(torch.from_numpy(audio)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(mine_norm, want_norm, atol=1e-6)
    for start, end in ((0.0, 0.4), (0.5, 0.9), (1.0, 1.7), (0.0, len(audio) / 24000)):
        piece = audio[int(start * 24000):int(end * 24000)]
        want = raw.extract_audio_features(torch.from_numpy(piece)[None], 24000)
        got = clone.raw_features(piece)
        for k in want:
            assert abs(got[k] - want[k]) < 1e-5, (k, start, got[k], want[k])
        track = module.calculate_pitch(torch.from_numpy(piece), 24000).numpy()
        np.testing.assert_allclose(clone.pitch_track(piece, 24000, **clone.PITCH), track, rtol=1e-4)


@pytest.fixture(scope="module")
def reference_run(folder, profiles):
    """The package's prompt from its cloned profile and transformers' greedy tokens (40 frames) after it."""
    from mlx_audio_lab.generation import SamplingConfig

    prompt = ref.reference_prompt(folder, ref.PARITY_TEXT, profiles[1])
    return prompt, ref._generate(ref.load_reference(folder), folder, prompt, SamplingConfig(0.0), None)


def test_cloned_prompt_and_greedy_tokens_equal_the_reference(folder, model, profiles, reference_run):
    from mlx_audio_lab.generation import SamplingConfig
    from mlx_audio_lab.models.tts.outetts.generate import generate_tokens

    want, greedy = reference_run
    prompt = model.prompt_ids(ref.PARITY_TEXT, profiles[0])
    assert prompt == want[0].tolist()  # token for token
    got = [s.token for s in generate_tokens(model, prompt, SamplingConfig(0.0), None, ref.PARITY_FRAMES)]
    assert got == greedy[0].tolist()
    codes = ref.reference_codes(folder, greedy)
    assert codes.shape == (2, ref.PARITY_FRAMES) and len(np.unique(codes[0])) > 20
    np.testing.assert_array_equal(model.audio_tokens.codes(got), codes)


def test_speak_clones_from_a_clip_and_saves_the_profile(folder, clip, whisper, profiles, reference_run, tmp_path,
                                                        monkeypatch):
    import mlx_audio_lab.models.stt.whisper as whisper_port
    from mlx_audio_lab.cli import main

    monkeypatch.setattr(whisper_port, "load_model", lambda folder: whisper)  # the same tiny.en, loaded once

    out, codes, voice = tmp_path / "out.wav", tmp_path / "codes.npy", tmp_path / "speaker.json"
    args = ["speak", "--model", str(folder), "--voice", str(clip), "--voice-text", ref.CLONE_TEXT,
            "--temperature", "0", "--max-frames", str(ref.PARITY_FRAMES), "--codes-out", str(codes),
            "--voice-out", str(voice), "--out", str(out), ref.PARITY_TEXT]
    assert main(args) == 0
    assert json.loads(voice.read_text()) == profiles[1]  # the saved profile is the package's
    want = ref.reference_codes(folder, reference_run[1])
    np.testing.assert_array_equal(np.load(codes), want)  # end to end: clip -> Whisper -> profile -> codes
    assert out.stat().st_size > 1000
    again = tmp_path / "again.npy"  # the saved profile as --voice: the same prompt, the same codes
    args = ["speak", "--model", str(folder), "--voice", str(voice), "--temperature", "0", "--max-frames",
            str(ref.PARITY_FRAMES), "--codes-out", str(again), "--out", str(out), ref.PARITY_TEXT]
    assert main(args) == 0
    np.testing.assert_array_equal(np.load(again), want)


class NoWords:
    """A Whisper that hears nothing (tiny.en hallucinates words even on noise, so the case is staged)."""

    def transcribe(self, audio, **options):
        from mlx_audio_lab.results import RunStats, Transcript

        return Transcript("", [], "en", [], RunStats(sample_rate=16000))


def test_bad_clips_exit_2(folder, clip, tmp_path, capsys, monkeypatch):
    import soundfile as sf

    import mlx_audio_lab.models.stt.whisper as whisper_port
    from mlx_audio_lab.cli import main

    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    short = tmp_path / "short.wav"
    sf.write(short, np.random.default_rng(0).normal(0, 0.1, 4800).astype(np.float32), 24000)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(24000, np.float32), 24000)
    for path, said in ((bad, "cannot read"), (short, "at least"), (silent, "silent")):
        out = tmp_path / "o.wav"
        assert main(["speak", "--model", str(folder), "--voice", str(path), "--out", str(out), "Hi."]) == 2
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and not out.exists(), err
    monkeypatch.setattr(whisper_port, "load_model", lambda folder: NoWords())
    out = tmp_path / "o.wav"
    assert main(["speak", "--model", str(folder), "--voice", str(clip), "--out", str(out), "Hi."]) == 2
    err = capsys.readouterr().err
    assert "found no words" in err and "Traceback" not in err and not out.exists(), err
    args = ["speak", "--model", str(folder), "--voice", "en-female-1-neutral", "--voice-text", "x", "--out",
            str(tmp_path / "o.wav"), "Hi."]
    assert main(args) == 2 and "speaker profile already has its text" in capsys.readouterr().err


V2_TEXTS = ["Hello, world. How are you?", "ABC123 and 9.45 at 3pm", "dont stop-it now!!  ok...",
            "e-mail x@y.com (test) \"q\"", "Café naïve 1,000", "It's a “quoted” test… really? ¿Qué tal?",
            "Well -- I think, it's 2024!", "The harbor lights flickered.", "日本語のテキストです。",
            "<|emotion_start|>happy<|emotion_end|> Great news, everyone!"]
V2_SPEAKER_TEXT = "The cat watched, quietly; 3 birds flew!"


@pytest.fixture(scope="module")
def v2_processor(tmp_path_factory):
    from mlx_audio_lab.generation import designed

    folder = tmp_path_factory.mktemp("outetts-v2-tokenizer")
    designed.bpe_tokenizer(folder, ref.CORPUS, v2.special_tokens(), v2.BOS, "<|im_end|>", "<|im_end|>",
                           prepend_bos=False)
    return ref.outetts_module("version.v2.prompt_processor").PromptProcessor(str(folder))


def test_v2_prompt_equals_the_package_token_for_token(v2_processor):
    from tokenizers import Tokenizer

    rng = np.random.default_rng(0)
    words = v2_processor.text_processor.process_text(V2_SPEAKER_TEXT)
    speaker = {"text": V2_SPEAKER_TEXT, "words": [{"word": w["word"], "duration": round(0.05 + 0.3 * rng.random(), 2),
                                                   "codes": rng.integers(0, v2.CODES, 8).tolist()} for w in words]}
    tok = Tokenizer.from_str(v2_processor.tokenizer.backend_tokenizer.to_str())
    for text in V2_TEXTS:
        assert v2.process_text(text) == v2_processor.text_processor.process_text(text), text
        for profile in (None, speaker):
            want = v2_processor.get_completion_prompt(text, speaker=profile)
            got = v2.completion_prompt(text, profile)
            assert got == want, text
            assert tok.encode(got, add_special_tokens=False).ids == v2_processor.tokenizer.encode(
                want, add_special_tokens=False)
    want = v2_processor.get_completion_prompt(V2_TEXTS[0], emotion="calm", speaker=speaker)
    assert v2.completion_prompt(V2_TEXTS[0], speaker, emotion="calm") == want
    ids = tok.encode(want + "<|12|><|t_0.20|><|4099|>x<|0|>", add_special_tokens=False).ids
    np.testing.assert_array_equal(v2.audio_codes(tok, ids), v2_processor.extract_audio_from_tokens(ids))
    with pytest.raises(ValueError, match="speaker word 0"):
        v2.completion_prompt("hi", {**speaker, "text": "other words here"})


def test_prompt_version_choice():
    from mlx_audio_lab.models.tts.outetts.prompt import completion_prompt

    assert completion_prompt("Hi there.", None, prompt_version=2) == v2.completion_prompt("Hi there.")
    assert completion_prompt("Hi there.", None) != completion_prompt("Hi there.", None, prompt_version=2)
    with pytest.raises(ValueError, match="prompt_version"):
        completion_prompt("Hi", None, prompt_version=1)
