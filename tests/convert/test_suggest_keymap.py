"""suggest_keymap reproduces the ports' hand-written tables where their names allow, and says where not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlx_audio_lab.convert.keymap import KeyMap, apply_keymap
from mlx_audio_lab.convert.readers import read_state_dict
from mlx_audio_lab.convert.suggest import generalize, suggest_keymap
from mlx_audio_lab.fixtures import build


def _agreement(state, hand: KeyMap, suggested: KeyMap) -> tuple[int, int]:
    """(keys the suggested table maps exactly as the hand-written one, keys the hand-written one maps)."""
    want = {}
    for k in state:
        hit = hand.map_key(k)
        if hit is not None and hit[0] is not None:
            want[k] = hit
    same = sum(suggested.map_key(k) == v for k, v in want.items())
    return same, len(want)


@pytest.mark.reference
def test_whisper_table_reproduced_exactly():
    from mlx_audio_lab.models.stt.whisper.config import WhisperConfig
    from mlx_audio_lab.models.stt.whisper.convert import HF
    from mlx_audio_lab.models.stt.whisper.model import Whisper

    folder = build("whisper")
    state, _ = read_state_dict(folder)
    model = Whisper(WhisperConfig.from_dict(json.loads((folder / "config.json").read_text())))
    s = suggest_keymap(state, model, "whisper/hf")
    assert _agreement(state, HF, s.keymap) == (len(state), len(state))
    assert not s.unplaced and not s.unfilled and len(s.keymap.rules) <= 4  # conv1, conv2, one prefix rule
    expected = {k: tuple(v.shape) for k, v in apply_keymap(state, HF).items()}
    mapped = apply_keymap(state, s.keymap, expected)  # raises on any missing / unexpected / mis-shaped key
    assert all(np.array_equal(mapped[k], v) for k, v in apply_keymap(state, HF).items())
    assert "Rule(r\"model\\.(.+)\", r\"\\1\")" in s.to_python()


@pytest.mark.reference
def test_encodec_weight_norm_named_and_transposed_convs_where_shapes_tell():
    from mlx_audio_lab.models.codecs.encodec.config import EncodecConfig
    from mlx_audio_lab.models.codecs.encodec.convert import hf_keymap, prepare_hf
    from mlx_audio_lab.models.codecs.encodec.model import Encodec

    folder = build("encodec")
    raw, _ = read_state_dict(folder)
    cfg = EncodecConfig.from_dict(json.loads((folder / "config.json").read_text()))
    assert any("weight-norm pairs" in n for n in suggest_keymap(raw, Encodec(cfg)).notes)
    state = prepare_hf(raw)
    s = suggest_keymap(state, Encodec(cfg), "encodec/hf")
    same, total = _agreement(state, hf_keymap(cfg), s.keymap)
    # Every key lands on the same MLX name; a transposed conv whose in == out channels is indistinguishable
    # from a plain conv by shape alone (the hand table knows it from the config): those are the only misses.
    misses = [k for k in state if hf_keymap(cfg).map_key(k) and hf_keymap(cfg).map_key(k)[0]
              and s.keymap.map_key(k) != hf_keymap(cfg).map_key(k)]
    assert total - same == len(misses) and all(s.keymap.map_key(k)[0] == hf_keymap(cfg).map_key(k)[0] for k in misses)
    assert same / total >= 0.9
    dropped = [k for k in state if hf_keymap(cfg).map_key(k) == (None, None)]  # codebook statistics
    assert set(dropped) <= set(s.unplaced)


@pytest.mark.reference
def test_kokoro_table_reproduced_and_the_pooler_unplaced():
    from mlx_audio_lab.convert.readers import read_torch
    from mlx_audio_lab.models.tts.kokoro.config import KokoroConfig
    from mlx_audio_lab.models.tts.kokoro.convert import HEXGRAD, prepare
    from mlx_audio_lab.models.tts.kokoro.model import Kokoro

    folder = build("kokoro")
    state = prepare(read_torch(next(folder.glob("*.pth"))))  # flattened `part.key` names
    model = Kokoro(KokoroConfig.from_dict(json.loads((folder / "config.json").read_text())))
    s = suggest_keymap(state, model, "kokoro/hexgrad")
    same, total = _agreement(state, HEXGRAD, s.keymap)
    assert same / total >= 0.95, (same, total)
    assert any(k.startswith("bert.pooler") for k in s.unplaced)


def test_generalize_keeps_exceptions_before_catch_alls():
    pairs = {"model.a.0.w": ("a.0.w", None), "model.a.1.w": ("a.1.w", None), "model.b.0.w": ("b.0.w", "conv1d"),
             "x.y": ("z.y", None), "x.q": ("x.q", None)}
    table = KeyMap(generalize(pairs))
    assert all(table.map_key(k) == v for k, v in pairs.items())
