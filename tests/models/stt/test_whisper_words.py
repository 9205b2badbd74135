"""Whisper word timestamps against transformers: median filter, DTW, word grouping, the alignment heads'
cross attention and token times (fixture: fast), and the pipeline's words on real tiny.en (slow)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.models.stt.whisper.timing import cross_attention, dtw, median_filter, token_timestamps
from mlx_audio_lab.models.stt.whisper.words import group_words

torch = pytest.importorskip("torch")
gw = pytest.importorskip("transformers.models.whisper.generation_whisper")
rng = np.random.default_rng(0)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ----------------------------------------------------------------------------------- median filter, DTW


@pytest.mark.parametrize("width", [1, 3, 7])
@pytest.mark.parametrize("length", [2, 3, 40])
def test_median_filter_equal_transformers(width, length):
    x = rng.normal(size=(2, 3, 5, length)).astype(np.float32)
    want = gw._median_filter(torch.from_numpy(x), width).numpy()
    np.testing.assert_array_equal(median_filter(x, width), want)


@pytest.mark.parametrize("shape", [(1, 9), (6, 30), (17, 80), (40, 25)])
@pytest.mark.parametrize("ties", [False, True])
def test_dtw_path_equal_transformers(shape, ties):
    m = rng.normal(size=shape)
    if ties:  # few distinct values: the tie-breaking rules decide the path
        m = np.round(m)
    want = gw._dynamic_time_warping(m)
    got = dtw(m)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert got[0][0] == 0 and got[1][-1] == shape[1] - 1 and np.all(np.diff(got[1]) >= 0)


# ----------------------------------------------------------------------------------- word grouping


TEXTS = [
    " The harbor lights flickered, as the night-ferry pulled away.",
    ' He said "wait!" (twice) and left... okay?',
    " Café déjà vu — naïve 😀 emoji, ¿qué? ¡sí!",
    " 'quoted' [bracketed] {braced} 100% $5",
]


@pytest.fixture(scope="module")
def tokenizers(whisper_fixture):
    from transformers import WhisperTokenizer

    from mlx_audio_lab.models.stt.whisper.tokenizer import WhisperTokenizer as Ours

    return Ours(whisper_fixture / "tokenizer.json", False), WhisperTokenizer.from_pretrained(whisper_fixture)


@pytest.mark.parametrize("text", TEXTS)
def test_word_groups_equal_transformers(tokenizers, text):
    from transformers.models.whisper.tokenization_whisper import _combine_tokens_into_words

    ours, hf = tokenizers
    tokens = ours.encode(text)
    words, _, indices = _combine_tokens_into_words(hf, tokens, "english")
    got = group_words(ours.decode, tokens, ours.eot, "en")
    assert [w for w, _ in got] == words and [i for _, i in got] == indices
    assert len(words) >= 5


def test_unspaced_script_splits_on_code_points(tokenizers):
    from transformers.models.whisper.tokenization_whisper import _combine_tokens_into_words

    ours, hf = tokenizers
    tokens = ours.encode("我们今天去公园散步。")
    words, _, indices = _combine_tokens_into_words(hf, tokens, "chinese")
    got = group_words(ours.decode, tokens, ours.eot, "zh")
    assert [w for w, _ in got] == words and [i for _, i in got] == indices and len(words) >= 5


# ----------------------------------------------------------------------------------- fixture: attention, times


HEADS = [[1, 0], [1, 1], [1, 3], [0, 2]]


@pytest.fixture(scope="module")
def fixture_pair(whisper_fixture):
    from mlx_audio_lab.models.stt.whisper import load_model, reference
    from mlx_audio_lab.models.stt.whisper.transcribe import features, window

    hf = reference.load_reference(whisper_fixture)
    hf.set_attn_implementation("eager")  # attention weights out
    hf.generation_config.alignment_heads = HEADS
    model = load_model(whisper_fixture)
    model.config.alignment_heads = HEADS
    wav = (np.random.default_rng(1).standard_normal(16000 * 4) * 0.1).astype(np.float32)
    mel = window(features(wav), 0)
    return hf, model, mel, len(wav)


def hf_generate(hf, mel: np.ndarray, n_samples: int, **kw):
    """transformers' generate with token timestamps; the attention mask marks the clip's frames (as the
    feature extractor's `return_attention_mask=True`)."""
    mask = torch.zeros(1, mel.shape[1], dtype=torch.long)
    mask[:, : -(-n_samples // 160)] = 1
    with torch.no_grad():
        return hf.generate(torch.from_numpy(mel).transpose(1, 2), attention_mask=mask, do_sample=False,
                           return_dict_in_generate=True, return_token_timestamps=True, **kw)


def test_alignment_head_attention_equal_transformers(fixture_pair):
    hf, model, mel, _ = fixture_pair
    tokens = [50257, 50362, 383, 2068, 2835, 21831, 18045, 625, 262]
    with torch.no_grad():
        out = hf(input_features=torch.from_numpy(mel).transpose(1, 2), decoder_input_ids=torch.tensor([tokens]),
                 output_attentions=True)
    want = np.stack([out.cross_attentions[layer][0, head].numpy() for layer, head in HEADS])
    got, probs = cross_attention(model, model.embed_audio(mx.array(mel)), tokens)
    assert got.shape == want.shape == (len(HEADS), len(tokens), 1500)
    np.testing.assert_allclose(got, want, atol=2e-6, rtol=1e-4)
    want_p = torch.softmax(out.logits[0], -1).numpy()
    np.testing.assert_allclose(probs, want_p, atol=1e-5)
    assert want.std() > 1e-4  # attention is not uniform


@pytest.mark.parametrize("timestamps", [False, True])
def test_token_times_equal_transformers(fixture_pair, timestamps):
    from mlx_audio_lab.models.stt.whisper.decoding import greedy
    from mlx_audio_lab.models.stt.whisper.transcribe import window_token_times

    hf, model, mel, n_samples = fixture_pair
    prompt = [50257] if timestamps else [50257, 50362]
    out = hf_generate(hf, mel, n_samples, max_new_tokens=30, return_timestamps=timestamps,
                      force_unique_generate_call=True)
    seq = out["sequences"][0].tolist()
    want_tokens = seq[-30:]
    want = out["token_timestamps"][0].numpy()[-30:]
    audio = model.embed_audio(mx.array(mel))
    tokens = greedy(model, audio, prompt, max_new_tokens=30, timestamps=timestamps)
    assert tokens == want_tokens and model.config.eos_token_id not in tokens
    times, probs = window_token_times(model, audio, prompt, tokens, False, -(-n_samples // 160))
    np.testing.assert_allclose(times, want, atol=1e-6)  # random weights: the path is short, see below
    assert all(0 < p <= 1 for p in probs)


@pytest.mark.parametrize("num_frames", [None, 700, 3000])
def test_token_timestamps_equal_transformers_extraction(num_frames):
    """Attention that walks through the audio (a noisy diagonal): the same times as transformers'
    `_extract_token_timestamps` given the same weights as generate would collect them."""
    from types import SimpleNamespace

    from transformers import WhisperForConditionalGeneration

    layers, heads, prompt, new, positions = 3, 4, 3, 25, 1500
    t = np.arange(prompt + new)[:, None]
    centre = 5 + 12 * np.maximum(t - prompt, 0)  # token k looks near position 5 + 12 k
    noise = rng.normal(0, 1, (layers, heads, prompt + new, positions))
    logits = -((np.arange(positions)[None] - centre) ** 2) / 50.0 + noise
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w = (w / w.sum(-1, keepdims=True)).astype(np.float32)  # (layers, heads, tokens, positions)
    steps = [tuple(torch.from_numpy(w[layer][None, :, :prompt]) for layer in range(layers))]
    steps += [tuple(torch.from_numpy(w[layer][None, :, i : i + 1]) for layer in range(layers))
              for i in range(prompt, prompt + new - 1)]
    outputs = {"cross_attentions": steps, "sequences": torch.zeros(1, prompt + new, dtype=torch.long)}
    fake = SimpleNamespace(config=SimpleNamespace(decoder_layers=layers, median_filter_width=7))
    chosen = [[2, 0], [1, 3], [2, 2]]
    nf = None if num_frames is None else torch.tensor([num_frames])
    want = WhisperForConditionalGeneration._extract_token_timestamps(
        fake, _Outputs(outputs), chosen, num_frames=nf, num_input_ids=prompt)[0, prompt:].numpy()
    rows = np.stack([w[layer, head, prompt : prompt + new - 1] for layer, head in chosen])
    times, _ = token_timestamps(rows, num_frames)
    np.testing.assert_allclose(times, want, atol=1e-6)
    assert len(set(np.round(times, 2))) >= new // 2  # the path walks through the audio


class _Outputs(dict):
    """The dict-with-attributes generate returns."""

    __getattr__ = dict.__getitem__


def test_token_timestamps_single_row_and_crop():
    w = rng.uniform(size=(3, 5, 1500)).astype(np.float32)
    times, (rows, cols) = token_timestamps(w, num_frames=200)
    assert len(times) == 6 and cols.max() == 99 and times[-1] == times[-2]
    assert np.all(np.diff(times) >= 0)


# ----------------------------------------------------------------------------------- real tiny.en (slow)


@pytest.fixture(scope="module")
def real(espeak):
    from mlx_audio_lab.models.stt.whisper import load_model
    from mlx_audio_lab.models.stt.whisper.real import real_hf_folder

    folder = real_hf_folder()
    return folder, load_model(folder)


@pytest.mark.slow
@pytest.mark.parametrize("clip", ["harbor", "numbers"])
def test_real_words_equal_transformers_pipeline(real, clip):
    """`transcribe(word_timestamps=True)` = `pipeline(return_timestamps="word")`: same words, times within 0.02 s."""
    from mlx_audio_lab.fixtures.speech import speech
    from mlx_audio_lab.models.stt.whisper.reference import pipeline_words

    folder, model = real
    audio = speech(clip)
    want = pipeline_words(folder, audio, beam_size=1)
    got = [w for s in model.transcribe(audio, beam_size=1, word_timestamps=True).segments for w in s.words]
    assert [w.word for w in got] == [w.word for w in want] and len(got) >= 8
    starts, ends = np.array([w.start for w in got]), np.array([w.end for w in got])
    np.testing.assert_allclose(starts, [w.start for w in want], atol=0.02)
    np.testing.assert_allclose(ends, [w.end for w in want], atol=0.02)
    assert np.all(ends >= starts) and ends[-1] <= len(audio) / 16000 + 0.5
    assert all(0 < w.probability <= 1 for w in got)


# ----------------------------------------------------------------------------------- views


def test_word_and_alignment_plots():
    import matplotlib

    matplotlib.use("Agg")
    from mlx_audio_lab.inspect import plots
    from mlx_audio_lab.results import Word

    audio = np.sin(np.arange(16000) / 5.0).astype(np.float32)
    fig = plots.words_on_waveform(audio, 16000, [Word(" a", 0.1, 0.4), Word(" b", 0.4, 0.9)], title="t")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (s)" and [t.get_text() for t in ax.texts] == ["a", "b"]
    assert ax.get_xlim()[1] == pytest.approx(15999 / 16000)
    m = rng.normal(size=(4, 50))
    path = dtw(-m)
    fig = plots.alignment_path(m, path, ["w", "x", "y", "z"], title="alignment")
    ax, bar = fig.axes
    assert ax.get_xlabel() == "time (s)" and ax.get_title() == "alignment" and bar.get_ylabel()
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), (path[1] + 0.5) * 0.02)
    np.testing.assert_array_equal(line.get_ydata(), path[0])
