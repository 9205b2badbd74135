"""Whisper decoding: logit rules, greedy, beam search and long-form transcription, token for token
against transformers' `WhisperForConditionalGeneration.generate` (fixture: fast; real tiny.en: slow)."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.models.stt.whisper.decoding import LogitRules, beam_search, greedy, timestamp_rules
from mlx_audio_lab.models.stt.whisper.transcribe import split_segments

TB, EOT, NO_TS, V = 50363, 50256, 50362, 51864  # tiny.en: <|0.00|>, <|endoftext|>, <|notimestamps|>, vocab
rng = np.random.default_rng(0)


# ----------------------------------------------------------------------------------- timestamp rules


def allowed(scores: np.ndarray) -> set[int]:
    return set(np.flatnonzero(np.isfinite(scores)).tolist())


def flat_scores(n: int = 1, text: float = 0.0, ts: float = -10.0) -> np.ndarray:
    s = np.full((n, V), text, np.float32)
    s[:, TB:] = ts
    return s


def test_first_token_is_an_early_timestamp():
    out = timestamp_rules(flat_scores(ts=0.0), [[]], TB, EOT, max_initial=50)
    assert allowed(out[0]) == set(range(TB, TB + 51))


def test_lone_timestamp_needs_its_pair_or_end():
    out = timestamp_rules(flat_scores(), [[TB + 5, 400, TB + 20]], TB, EOT)
    ok = allowed(out[0])
    assert not ok & set(range(EOT))  # no text
    assert EOT in ok and TB + 20 in ok and TB + 19 not in ok  # end, or close the pair (equal time allowed)


def test_closed_pair_is_followed_by_text():
    out = timestamp_rules(flat_scores(ts=5.0), [[TB + 5, 400, TB + 20, TB + 20]], TB, EOT)
    ok = allowed(out[0])
    assert not ok & set(range(TB, V)) and 400 in ok


def test_timestamps_never_decrease():
    out = timestamp_rules(flat_scores(), [[TB + 5, 400, 500]], TB, EOT)
    ok = allowed(out[0])
    assert TB + 5 not in ok and TB + 6 in ok and NO_TS not in ok and 400 in ok


def test_timestamp_mass_beats_best_text_token():
    s = flat_scores(2, text=-30.0, ts=0.0)  # 1501 timestamps at 0: log-mass 7.3
    s[0, 400] = 5.0  # below the mass: a timestamp is forced
    s[1, 400] = 9.0  # above it: text stays possible
    out = timestamp_rules(s, [[TB + 1, 400], [TB + 1, 400]], TB, EOT)
    assert not allowed(out[0]) & set(range(TB)) and 400 in allowed(out[1])


def test_timestamp_rules_equal_transformers_processor():
    """Random histories and scores: the same -inf mask and values as WhisperTimeStampLogitsProcessor."""
    torch = pytest.importorskip("torch")
    from transformers import GenerationConfig
    from transformers.generation.logits_process import WhisperTimeStampLogitsProcessor

    cfg = GenerationConfig(eos_token_id=EOT, no_timestamps_token_id=NO_TS, max_initial_timestamp_index=50)
    proc = WhisperTimeStampLogitsProcessor(cfg, begin_index=1)
    for length in (0, 1, 2, 3, 5, 8):
        rows = [[int(t) for t in rng.choice([rng.integers(0, EOT), rng.integers(TB, TB + 300)], size=length)]
                for _ in range(6)]
        rows[0] = sorted(t for t in rows[0])  # monotonic timestamps too
        scores = rng.normal(0, 3, (6, V)).astype(np.float32)
        scores[:, TB:] -= rng.uniform(0, 8, (6, 1)).astype(np.float32)  # some rows near the forcing threshold
        want = proc(torch.tensor([[50257] + r for r in rows]), torch.from_numpy(scores.copy())).numpy()
        got = timestamp_rules(scores.copy(), rows, TB, EOT, max_initial=50)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
        np.testing.assert_array_equal(got, want)


def test_suppression_at_the_first_step_only(whisper_fixture):
    from mlx_audio_lab.models.stt.whisper import load_model

    model = load_model(whisper_fixture)
    rules = LogitRules.for_model(model)
    first, later = rules(np.zeros((1, V), np.float32), [[]]), rules(np.zeros((1, V), np.float32), [[7]])
    assert np.isinf(first[0, EOT]) and np.isfinite(later[0, EOT])  # begin_suppress: EOT and " " at first
    assert all(np.isinf(later[0, t]) for t in model.config.suppress_tokens)


# ----------------------------------------------------------------------------------- segments


@pytest.mark.parametrize("tokens", [
    [TB, 400, 401, TB + 100, TB + 100, 402, TB + 150],  # single timestamp ending: the window is done
    [TB, 400, TB + 100, TB + 100, 402, 403],  # unfinished text after a pair: resume at the pair
    [TB + 2, 400, TB + 100, TB + 120, 402, TB + 300, TB + 300],  # ends in a pair
    [TB, 400, 401, TB + 90],  # no pair, one closing timestamp
    [400, 401, 402],  # no timestamps at all
])
def test_split_segments_equal_transformers(tokens):
    torch = pytest.importorskip("torch")
    from transformers import WhisperForConditionalGeneration

    seek, frames = 1234, 2876
    segs, advance = WhisperForConditionalGeneration._retrieve_segment(
        torch.tensor(tokens), [None], torch.tensor([seek * 0.01], dtype=torch.float64), TB,
        torch.tensor([frames]), 0.02, 0.01, 2, 0, 0, False, torch.zeros((1, 1), dtype=torch.long))
    mine, step = split_segments(tokens, TB, frames)
    assert step == int(advance)
    assert [s.tokens for s in mine] == [s["tokens"].tolist() for s in segs]
    for m, s in zip(mine, segs):
        assert seek * 0.01 + m.start * 0.02 == pytest.approx(float(s["start"]), abs=1e-9)
        assert seek * 0.01 + m.end * 0.02 == pytest.approx(float(s["end"]), abs=1e-9)


# ----------------------------------------------------------------------------------- fixture parity


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """transformers' per-step work (torch.isin over the vocabulary) crawls on 2 busy cores with 2 threads."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def fixture_pair(whisper_fixture):
    """(transformers model, MLX model, mel (1, 3000, 80), MLX audio features) of the random fixture."""
    pytest.importorskip("transformers")
    from mlx_audio_lab.models.stt.whisper import load_model, reference

    mel = reference.parity_inputs(whisper_fixture)["mel"]
    model = load_model(whisper_fixture)
    return reference.load_reference(whisper_fixture), model, mel, model.embed_audio(mx.array(mel))


def hf_tokens(hf, mel: np.ndarray, prompt_len: int, **kw) -> list[int]:
    """transformers' new tokens (one generate call on these features, prompt dropped)."""
    import torch

    with torch.no_grad():
        out = hf.generate(torch.from_numpy(mel).transpose(1, 2), do_sample=False, length_penalty=1.0,
                          force_unique_generate_call=True, return_dict_in_generate=True, **kw)
    return out.sequences[0, prompt_len:].tolist()


@pytest.mark.parametrize("beams", [1, 2, 5])
@pytest.mark.parametrize("timestamps", [False, True])
def test_fixture_tokens_equal_transformers(fixture_pair, beams, timestamps):
    hf, model, mel, audio = fixture_pair
    prompt = [50257] if timestamps else [50257, NO_TS]
    want = hf_tokens(hf, mel, len(prompt), num_beams=beams, return_timestamps=timestamps, max_new_tokens=40)
    if beams == 1:
        got = greedy(model, audio, prompt, max_new_tokens=40, timestamps=timestamps)
    else:
        got = beam_search(model, audio, prompt, beams, max_new_tokens=40, timestamps=timestamps)
    assert got == want
    assert len(set(got)) >= 3  # random weights: repetitive, but not one id
    if timestamps:
        assert got[0] >= TB and any(t >= TB for t in got[1:])


@pytest.mark.parametrize("beams", [2, 5])
def test_fixture_beams_finish_on_end_token(fixture_pair, beams):
    """Make a frequent token the end token, so hypotheses finish early and length normalisation decides."""
    hf, model, mel, audio = fixture_pair
    prompt = [50257, NO_TS]
    free = greedy(model, audio, prompt, max_new_tokens=30)
    eot = max(set(free[3:]), key=free.count)  # a token the model emits often, not at the very start
    saved = model.config.eos_token_id
    model.config.eos_token_id = eot
    try:
        got = beam_search(model, audio, prompt, beams, max_new_tokens=60)
    finally:
        model.config.eos_token_id = saved
    want = hf_tokens(hf, mel, len(prompt), num_beams=beams, max_new_tokens=60, eos_token_id=eot, pad_token_id=eot)
    assert got[-1] == eot and len(got) < 60
    assert got == want[: len(got)] and all(t == eot for t in want[len(got):])


def test_detect_language_equal_transformers(fixture_pair):
    """Restricted to a (stand-in) set of language ids, the argmax after <|startoftranscript|> is transformers'."""
    import copy
    from types import SimpleNamespace

    import torch

    from mlx_audio_lab.models.stt.whisper.decoding import detect_language

    hf, model, mel, audio = fixture_pair
    langs = {"aa": 300, "bb": 1200, "cc": 4000, "dd": 30000}
    saved = model.tokenizer
    with pytest.raises(ValueError, match="multilingual"):
        detect_language(model, audio)
    model.tokenizer = SimpleNamespace(sot=50257, language_ids=langs)
    try:
        code, probs = detect_language(model, audio)
    finally:
        model.tokenizer = saved
    cfg = copy.deepcopy(hf.generation_config)
    cfg.lang_to_id = {f"<|{c}|>": i for c, i in langs.items()}
    want = int(hf.detect_language(input_features=torch.from_numpy(mel).transpose(1, 2), generation_config=cfg)[0])
    assert langs[code] == want and sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert max(probs, key=probs.get) == code


def test_transcribe_rejects_options_of_english_only_models(fixture_pair):
    _, model, _, _ = fixture_pair
    with pytest.raises(ValueError, match="English-only"):
        model.transcribe(np.zeros(16000, np.float32), language="fr")


# ----------------------------------------------------------------------------------- real tiny.en (slow)

KEY_WORDS = {
    "fox": ("quick", "fox", "lazy dog"),
    "harbor": ("harbor", "lights", "pulled away"),
    "names": ("Maria", "Lisbon", "April"),
    "long": ("Once upon a time", "clockmaker", "Tobias", "grandmother", "northern mountains", "years"),
}


class RealReference:
    """transformers' side on the real tiny.en: its feature extractor and `generate` (greedy settings)."""

    def __init__(self, folder: Path):
        from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

        self.fe = WhisperFeatureExtractor.from_pretrained(folder)
        self.hf = WhisperForConditionalGeneration.from_pretrained(folder, dtype="float32").eval()

    def generate(self, feats, **kw) -> tuple[list[int], list[tuple[float, float]] | None]:
        """(tokens, segment spans or None) of `generate(feats, do_sample=False, length_penalty=1.0, **kw)`."""
        import torch

        with torch.no_grad():
            out = self.hf.generate(feats, do_sample=False, length_penalty=1.0, **kw)
        if not kw.get("return_segments"):
            return out[0].tolist(), None
        spans = [(float(s["start"]), float(s["end"])) for s in out["segments"][0]]
        return out["sequences"][0].tolist(), spans


@pytest.fixture(scope="module")
def real(espeak):
    """(transformers reference, MLX model) of the real tiny.en weights."""
    pytest.importorskip("transformers")
    from mlx_audio_lab.models.stt.whisper import load_model
    from mlx_audio_lab.models.stt.whisper.real import real_hf_folder

    folder = real_hf_folder()
    return RealReference(folder), load_model(folder)


def check_transcript(tr, want_tokens, want_spans, clip):
    assert tr.tokens == want_tokens
    got = [t for s in tr.segments for t in (s.start, s.end)]
    assert got == pytest.approx([t for span in want_spans for t in span], abs=1e-6)
    text = " ".join(tr.text.lower().replace("-", " ").split())
    missing = [w for w in KEY_WORDS[clip] if w.lower() not in text]
    assert not missing, (missing, tr.text)
    assert tr.stats.token_count == len(tr.tokens) and tr.stats.processing_time > 0


@pytest.mark.slow
@pytest.mark.parametrize("clip", ["fox", "harbor", "names"])
def test_real_short_clip_equal_transformers(real, clip):
    """Greedy, beam-5 and beam-5 with timestamps (via `transcribe`) on one short espeak-ng clip."""
    from mlx_audio_lab.fixtures.speech import speech

    ref, model = real
    wav = speech(clip, 16000)
    feats = ref.fe(wav, sampling_rate=16000, return_tensors="pt").input_features  # (1, 80, 3000)
    audio = model.embed_audio(mx.array(feats.numpy().transpose(0, 2, 1)))
    prompt = model.tokenizer.sot_sequence(None, timestamps=False)
    for beams in (1, 5):
        want, _ = ref.generate(feats, num_beams=beams, return_timestamps=False)
        got = greedy(model, audio, prompt, 446) if beams == 1 else beam_search(model, audio, prompt, beams)
        assert got[-1] == EOT and got[:-1] == want, beams
    tokens, spans = ref.generate(feats, num_beams=5, return_timestamps=True, return_segments=True)
    tr = model.transcribe(wav, beam_size=5)
    check_transcript(tr, tokens, spans, clip)
    assert tr.stats.audio_duration == pytest.approx(len(wav) / 16000)


@pytest.mark.slow
@pytest.mark.parametrize("beams", [1, 5])
def test_real_long_clip_equal_transformers_long_form(real, beams):
    """A 46 s clip: sequential 30 s windows, seeking by the last timestamp, as transformers' long form."""
    from mlx_audio_lab.fixtures.speech import speech

    ref, model = real
    wav = speech("long", 16000)
    assert len(wav) > 30 * 16000
    feats = ref.fe(wav, sampling_rate=16000, return_tensors="pt", truncation=False, padding="longest").input_features
    assert feats.shape[-1] > 3000
    tokens, spans = ref.generate(feats, num_beams=beams, return_timestamps=True, return_segments=True)
    tr = model.transcribe(wav, beam_size=beams, progress=True)
    check_transcript(tr, tokens, spans, "long")
    assert len(tr.segments) >= 4 and tr.segments[-1].end > 30
    assert all(a.end <= b.start + 1e-9 for a, b in zip(tr.segments, tr.segments[1:]))
