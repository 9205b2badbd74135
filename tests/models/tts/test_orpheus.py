"""Orpheus port: parity with transformers' Llama (layers, teacher-forced logits, greedy and sampled tokens),
the token layout against the reference recipe, streaming generate, and `speak` / `decode` on the fixture."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab import parity
from mlx_audio_lab.fixtures import build
from mlx_audio_lab.models.codecs.snac.frames import from_grid, grid_order, to_grid
from mlx_audio_lab.models.tts.orpheus import reference as ref
from mlx_audio_lab.models.tts.orpheus.layout import TokenLayout


@pytest.fixture(scope="module")
def folder():
    return build("orpheus")


@pytest.fixture(scope="module")
def report(folder):
    return parity.run("orpheus", weights=folder)


@pytest.fixture(scope="module")
def model(folder):
    from mlx_audio_lab import load

    return load(folder)


@pytest.mark.slow  # two reference generate runs + SNAC decode: ~1 min alone on a shared CPU
def test_parity_every_layer_and_generation_check(report):
    names = [r.name for r in report.layers]
    assert names[:2] == ["embed_tokens", "layers.0"] and "logits" in names
    for check in ("generation.teacher_forced_logits", "generation.greedy_tokens", "generation.greedy_codes",
                  "generation.sampled_tokens", "snac.audio"):
        assert check in names
    assert report.ok, report.table()
    rows = {r.name: r for r in report.layers}
    assert rows["generation.greedy_codes"].shape[1] >= 32 and rows["generation.sampled_tokens"].shape == [1, 280]


@pytest.mark.slow
def test_precision_agreement_is_reported(report):
    for name in ("bf16", "8bit", "4bit"):
        a = report.extras[f"greedy_agreement_{name}"]
        assert 0.0 <= a["equal_fraction"] <= 1.0 and "first_divergence" in a
    assert "greedy_agreement_bf16" in report.to_json()


def test_fixture_walks_varied_valid_frames_and_sampling_departs_from_greedy(folder, model):
    from mlx_audio_lab.generation import RecordedDraws, SamplingConfig
    from mlx_audio_lab.models.tts.orpheus.generate import generate_tokens

    prompt = model.prompt_ids(ref.PARITY_TEXT, ref.PARITY_VOICE)
    greedy = [s.token for s in generate_tokens(model, prompt, SamplingConfig(0.0), None, 40)]
    grid, dropped = model.layout.frames(greedy)
    assert grid.shape == (7, 40) and dropped == 0
    assert all(len(np.unique(row)) > 20 for row in grid)  # codes vary in every slot
    draws = RecordedDraws(np.random.default_rng(0).random(280))
    sampled = [s.token for s in generate_tokens(model, prompt, ref.PARITY_SAMPLING, draws, 40)]
    assert sampled != greedy
    np.testing.assert_array_equal(grid, ref.reference_frames(np.array(greedy), model.layout))


def test_prompt_matches_transformers_tokenizer(folder, model):
    for voice in ("tara", None):
        want = ref.reference_prompt(folder, "Hello there, <laugh> how are you?", voice)[0].tolist()
        assert model.prompt_ids("Hello there, <laugh> how are you?", voice) == want
    lay = model.layout
    assert want[0] == lay.start_of_human and want[-4:] == [lay.eot, lay.end_of_human, lay.start_of_ai,
                                                           lay.start_of_speech]


def test_real_layout_ids():
    class Real:  # orpheus-3b-0.1-ft: <custom_token_N> = 128256 + N
        def token_to_id(self, s):
            return {"<|begin_of_text|>": 128000, "<|eot_id|>": 128009}.get(s) or 128256 + int(s[14:-1])

    lay = TokenLayout.from_tokenizer(Real())
    assert (lay.start_of_speech, lay.end_of_speech, lay.start_of_human, lay.end_of_human, lay.start_of_ai,
            lay.audio_base) == (128257, 128258, 128259, 128260, 128261, 128266)
    assert lay.prompt([128000, 5]) == [128259, 128000, 5, 128009, 128260, 128261, 128257]


def test_frames_layout_and_snac_grid():
    lay = TokenLayout(bos=0, eot=1, custom_0=100, codebook_size=8)
    grid = np.arange(7 * 3).reshape(7, 3) % 8
    tokens = lay.tokens(grid)
    assert tokens[:7].tolist() == [110 + p * 8 + grid[p, 0] for p in range(7)]
    got, dropped = lay.frames(np.concatenate([tokens, [lay.end_of_speech, 110, 111]]))
    np.testing.assert_array_equal(got, grid) and dropped == 0
    bad = tokens.copy()
    bad[8] = 110  # frame 1's slot 1 holds a slot-0 token: that frame is dropped
    got, dropped = lay.frames(bad)
    assert dropped == 1 and got.shape == (7, 2)
    # SNAC grid rows are Orpheus's slots: c0, c1, c2, c2, c1, c2, c2
    assert grid_order([4, 2, 1]) == [(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (2, 2), (2, 3)]
    codes = [np.arange(3), np.arange(6) + 10, np.arange(12) + 20]
    g = to_grid(codes, [4, 2, 1])
    assert g[:, 1].tolist() == [1, 12, 24, 25, 13, 26, 27]
    assert all((a == b).all() for a, b in zip(from_grid(g, [4, 2, 1]), codes))


def test_generate_streams_audio_chunks(model):
    chunks = list(model.generate("Hello.", voice="leo", temperature=0, max_frames=24, chunk_frames=8))
    again = list(model.generate("Hello.", voice="leo", temperature=0, max_frames=24, chunk_frames=8))
    assert [c.extras["frames"] for c in chunks] == [(0, 8), (8, 16), (16, 24)]
    codes = np.concatenate([c.extras["codes"] for c in chunks], axis=1)
    np.testing.assert_array_equal(codes, np.concatenate([c.extras["codes"] for c in again], axis=1))
    hop = 2048  # snac fixture: 512 samples per finest frame x stride 4
    assert all(len(c.audio) == 8 * hop and c.stats.token_count == 56 for c in chunks)
    assert all(c.stats.peak_memory_mb > 0 and c.extras["tokens_per_second"] > 0 for c in chunks)
    assert np.isfinite(np.concatenate([c.audio for c in chunks])).all()
    with pytest.raises(ValueError, match="speed"):
        next(model.generate("Hello.", speed=1.2))


def test_speak_and_decode_cli(folder, tmp_path, capsys):
    import soundfile as sf

    from mlx_audio_lab.cli import main

    out, codes = tmp_path / "out.wav", tmp_path / "codes.npy"
    args = ["speak", "--model", str(folder), "--voice", "tara", "--temperature", "0", "--max-frames", "20",
            "--codes-out", str(codes), "--out", str(out), "Hi there."]
    assert main(args) == 0
    grid = np.load(codes)
    assert grid.shape == (7, 20) and np.issubdtype(grid.dtype, np.integer)
    assert main(args) == 0
    np.testing.assert_array_equal(np.load(codes), grid)  # --temperature 0 is deterministic
    audio, rate = sf.read(out)
    assert rate == 24000 and len(audio) == 20 * 2048
    assert main(["decode", "--model", str(folder / "snac"), "--out", str(tmp_path / "d.wav"), str(codes)]) == 0
    assert len(sf.read(tmp_path / "d.wav")[0]) == 20 * 2048
    capsys.readouterr()
    assert main(["speak", "--model", str(folder), "--speed", "1.5", "--out", str(out), "x"]) == 2  # an input error
    assert "speed" in capsys.readouterr().err


def test_sampling_inspector_on_an_orpheus_run(model):
    from mlx_audio_lab.inspect import AttentionInspector, SamplingInspector

    view = SamplingInspector.from_orpheus(model, "Hi.", voice="zoe", seed=1, max_frames=3, top_k=20)
    t = view.trace
    assert [c.stage for c in t.steps[0].stages] == ["raw", "repetition_penalty", "temperature", "top_k", "top_p"]
    assert t.grid.shape == (7, 3) and (t.grid >= 0).all()  # every token landed in its slot
    chosen = [s.chosen for s in t.steps]
    np.testing.assert_array_equal(model.layout.tokens(t.grid), chosen)
    assert all(s.stages[-1].chosen_prob > 0 for s in t.steps)  # the pick was possible after the last filter
    seq = model.prompt_ids("Hi.", "zoe")
    maps = AttentionInspector.from_llama(model.lm, seq).maps
    assert maps.self_attn.shape == (2, 4, len(seq), len(seq))
    np.testing.assert_allclose(maps.self_attn.sum(-1), 1.0, atol=1e-5)


def test_speak_sampling_flags_on_a_model_without_tokens(tmp_path, monkeypatch, capsys):
    import mlx_audio_lab
    from mlx_audio_lab.cli import main
    from mlx_audio_lab.results import AudioResult, RunStats

    seen = {}

    class Fixed:  # a deterministic TTS (as Kokoro): generate takes voice / speed only
        def generate(self, text, voice=None, speed=1.0):
            seen.update(voice=voice, speed=speed)
            yield AudioResult(np.zeros(2400, np.float32), RunStats(24000, 0.1))

    monkeypatch.setattr(mlx_audio_lab, "load", lambda *_a, **_k: Fixed())
    out = tmp_path / "x.wav"
    assert main(["speak", "--model", "m", "--temperature", "0.7", "--seed", "3", "--out", str(out), "hi"]) == 0
    assert "--temperature, --seed ignored" in capsys.readouterr().err and out.is_file() and seen["voice"] is None
    assert main(["speak", "--model", "m", "--codes-out", str(tmp_path / "c.npy"), "--out", str(out), "hi"]) == 2
    assert "error: --codes-out" in capsys.readouterr().err
