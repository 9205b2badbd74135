"""Whisper long form with temperature fallback, no-speech skipping, conditioning on previous text and prompts,
token for token against transformers' `generate` (sampled steps fed the same uniform draws on both sides)."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.models.stt.whisper.fallback import (
    FallbackOptions,
    SeededDraws,
    compression_ratio,
    pick_inverse_cdf,
)
from mlx_audio_lab.models.stt.whisper.transcribe import features, window_prompt

torch = pytest.importorskip("torch")
TB, SOT_PREV = 50363, 50360


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_compression_ratio_equal_transformers():
    from transformers import WhisperForConditionalGeneration

    rng = np.random.default_rng(0)
    for tokens in ([50363, 383, 2068, 50256], list(rng.integers(0, 51864, 60)), [262, 262, 262, 262] * 30):
        want = WhisperForConditionalGeneration._retrieve_compression_ratio(torch.tensor(tokens), 51864)
        assert compression_ratio([int(t) for t in tokens], 51864) == pytest.approx(want, rel=1e-12)
    assert compression_ratio([262] * 120, 51864) > 2.4 > compression_ratio(list(range(100, 160)), 51864)


def test_inverse_cdf_picks_by_cumulative_mass():
    p = np.array([0.1, 0.0, 0.6, 0.3])
    assert [pick_inverse_cdf(p, u) for u in (0.0, 0.099, 0.1, 0.69, 0.7, 0.999)] == [0, 0, 2, 2, 3, 3]
    assert pick_inverse_cdf(p * 7, 0.5) == 2  # unnormalised mass


def test_window_prompt_as_transformers():
    init = [50257]
    seg_a, seg_b = [TB, 383, 2068, TB + 50, TB + 50], [TB + 50, 2835, TB + 90]
    assert window_prompt(init, [], None, SOT_PREV, TB, 223) == [50257]
    assert window_prompt(init, [], [11, 12], SOT_PREV, TB, 223) == [SOT_PREV, 11, 12, 50257]
    # a segment closing on a timestamp pair gives one of the two; the last `keep` tokens are kept
    assert window_prompt(init, [seg_a, seg_b], None, SOT_PREV, TB, 223) == [SOT_PREV, *seg_a[:-1], *seg_b, 50257]
    assert window_prompt(init, [seg_a, seg_b], None, SOT_PREV, TB, 3) == [SOT_PREV, TB + 50, 2835, TB + 90, 50257]


# ----------------------------------------------------------------------------------- fixture vs transformers


def replay_multinomial(draws: SeededDraws):
    """torch.multinomial(probs, 1) replaced by the port's inverse-CDF pick on the same draws (batch of one)."""
    def multinomial(probs, num_samples=1, **_):
        assert probs.shape[0] == 1 and num_samples == 1
        return torch.tensor([[pick_inverse_cdf(probs[0].double().numpy(), draws.next())]])
    return multinomial


def hf_long_form(hf, wav: np.ndarray, monkeypatch, seed: int, **kw):
    """transformers' segments (tokens, start, end) on the port's features, sampling from `seed`'s draws."""
    mel = features(wav)  # (frames, 80): transformers' extractor's features (proven in test_whisper_decoding)
    feats = torch.from_numpy(mel.T[None].copy())
    if feats.shape[-1] < 3000:
        feats = torch.nn.functional.pad(feats, (0, 3000 - feats.shape[-1]))
    mask = torch.ones(1, feats.shape[-1], dtype=torch.long)
    monkeypatch.setattr(torch, "multinomial", replay_multinomial(SeededDraws(seed)))
    with torch.no_grad():
        out = hf.generate(feats, attention_mask=mask, return_timestamps=True, return_segments=True,
                          return_dict_in_generate=True, length_penalty=1.0, **kw)
    monkeypatch.undo()
    return [(s["tokens"].tolist(), float(s["start"]), float(s["end"])) for s in out["segments"][0]]


@pytest.fixture(scope="module")
def fixture_pair(whisper_fixture):
    from mlx_audio_lab.models.stt.whisper import load_model, reference

    return reference.load_reference(whisper_fixture), load_model(whisper_fixture)


CASES = {
    # every attempt repeats itself or is unlikely: each window goes through all three temperatures
    "all-fall-back": dict(compression_ratio_threshold=1.8, logprob_threshold=-3.0, no_speech_threshold=0.6,
                          condition_on_prev_tokens=True),
    # the first window is accepted at 0.4, the second only at 0.8
    "stops-midway": dict(compression_ratio_threshold=1.8, logprob_threshold=-3.82),
    # low log-probability and a no-speech probability above 0: every window is skipped as silence
    "skipped": dict(logprob_threshold=-3.0, no_speech_threshold=0.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fixture_fallback_equal_transformers(fixture_pair, monkeypatch, case):
    """Random weights repeat themselves, so the fallback works hard; sampled steps share their draws."""
    hf, model = fixture_pair
    wav = (np.random.default_rng(3).standard_normal(16000 * 8) * 0.1).astype(np.float32)
    temps = (0.0, 0.4, 0.8)
    kw = CASES[case]
    want = hf_long_form(hf, wav, monkeypatch, seed=7, temperature=temps, max_new_tokens=60, **kw)
    opts = FallbackOptions(temps, kw.get("compression_ratio_threshold"), kw.get("logprob_threshold"),
                           kw.get("no_speech_threshold"), kw.get("condition_on_prev_tokens", False), SeededDraws(7))
    tr = model.transcribe(wav, beam_size=1, fallback=opts, max_new_tokens=60)
    got = [(s.tokens, s.start, s.end) for s in tr.segments]
    assert [g[0] for g in got] == [w[0] for w in want]
    assert np.allclose([g[1:] for g in got], [w[1:] for w in want], atol=1e-6)
    if case == "skipped":
        assert got == [] and tr.text == ""
    else:
        assert len({t for g in got for t in g[0]}) >= 20


@pytest.mark.parametrize("condition", [False, True])
def test_fixture_prompt_ids_equal_transformers(fixture_pair, monkeypatch, condition):
    """`prompt_ids` (after <|startofprev|>) before every window, or as the first conditioning segment."""
    hf, model = fixture_pair
    wav = (np.random.default_rng(4).standard_normal(16000 * 6) * 0.1).astype(np.float32)
    prompt = model.tokenizer.encode(" Tobias winds forty two clocks.")
    want = hf_long_form(hf, wav, monkeypatch, seed=0, prompt_ids=torch.tensor([SOT_PREV, *prompt]),
                        condition_on_prev_tokens=condition, max_new_tokens=40)
    opts = FallbackOptions(condition_on_previous_text=condition)
    tr = model.transcribe(wav, beam_size=1, prompt_ids=prompt, fallback=opts, max_new_tokens=40)
    assert [s.tokens for s in tr.segments] == [w[0] for w in want] and len(want) >= 1
    plain = model.transcribe(wav, beam_size=1, max_new_tokens=40)
    assert plain.tokens != tr.tokens  # the prompt changes what the decoder writes
    text = model.transcribe(wav, beam_size=1, initial_prompt="Tobias winds forty two clocks.", fallback=opts,
                            max_new_tokens=40)
    assert text.tokens == tr.tokens


@pytest.mark.slow
def test_real_long_clip_with_openai_settings_equal_transformers(espeak, monkeypatch):
    """Real tiny.en, 46 s clip, openai-whisper's quality settings (fallback temperatures, thresholds,
    conditioning on previous text): the same segments as transformers' generate."""
    from mlx_audio_lab.fixtures.speech import speech
    from mlx_audio_lab.models.stt.whisper import load_model, reference
    from mlx_audio_lab.models.stt.whisper.real import real_hf_folder

    folder = real_hf_folder()
    hf, model = reference.load_reference(folder), load_model(folder)
    wav = speech("long", 16000)
    temps = (0.0, 0.2, 0.4)
    kw = dict(compression_ratio_threshold=2.4, logprob_threshold=-1.0, no_speech_threshold=0.6)
    want = hf_long_form(hf, wav, monkeypatch, seed=0, temperature=temps, condition_on_prev_tokens=True, **kw)
    opts = FallbackOptions(temps, condition_on_previous_text=True, draws=SeededDraws(0), **kw)
    tr = model.transcribe(wav, beam_size=1, fallback=opts)
    got = [(s.tokens, s.start, s.end) for s in tr.segments]
    assert [g[0] for g in got] == [w[0] for w in want] and len(got) >= 4
    assert np.allclose([g[1:] for g in got], [w[1:] for w in want], atol=1e-6)
    assert "clockmaker" in tr.text and tr.segments[-1].end > 30
