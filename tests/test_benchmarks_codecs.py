"""The codec / TTS benchmarks' pure helpers: the renames and layouts that carry the same weights into mlx-audio.

Speed is never asserted; these check that a weight reaches the right place in the right layout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root holds benchmarks/

from benchmarks.models.codec_common import sequential_to_peer  # noqa: E402
from benchmarks.models.dac import descript_name  # noqa: E402
from benchmarks.models.encodec import peer_weights  # noqa: E402


def test_dac_names_follow_descripts_sequential_tree():
    n = 4  # strides 2-4-8-8
    assert descript_name("encoder.conv1.weight", n) == "encoder.block.0.weight"
    assert descript_name("encoder.block.2.res_unit3.conv1.bias", n) == "encoder.block.3.block.2.block.1.bias"
    assert descript_name("encoder.block.0.snake1.alpha", n) == "encoder.block.1.block.3.alpha"
    assert descript_name("encoder.block.0.conv1.weight", n) == "encoder.block.1.block.4.weight"
    assert descript_name("encoder.conv2.bias", n) == "encoder.block.6.bias"
    assert descript_name("decoder.block.1.conv_t1.weight", n) == "decoder.model.2.block.1.weight"
    assert descript_name("decoder.block.3.res_unit1.snake2.alpha", n) == "decoder.model.4.block.2.block.2.alpha"
    assert descript_name("decoder.conv2.weight", n) == "decoder.model.6.weight"
    assert descript_name("quantizer.quantizers.5.codebook.weight", n) == "quantizer.quantizers.5.codebook.weight"


def test_sequential_to_peer_layouts_and_weight_norm():
    rng = np.random.default_rng(0)
    conv = rng.standard_normal((6, 4, 3)).astype(np.float32)  # torch (out, in, k), plain
    convt = rng.standard_normal((6, 2, 8)).astype(np.float32)  # torch transposed (in, out, k)
    g, v = rng.random((5, 1, 1)).astype(np.float32), rng.standard_normal((5, 6, 7)).astype(np.float32)
    alpha = rng.standard_normal((1, 6, 1)).astype(np.float32)
    state = {"decoder.model.0.weight": conv, "decoder.model.1.block.1.weight": convt,
             "encoder.block.0.parametrizations.weight.original0": g,
             "encoder.block.0.parametrizations.weight.original1": v,
             "decoder.model.1.block.0.alpha": alpha, "quantizer.codebook.cluster_size": np.ones(3)}
    expected = {"decoder.model.layers.0.weight_v": np.zeros((6, 3, 4)), "decoder.model.layers.0.weight_g":
                np.zeros((6, 1, 1)), "decoder.model.layers.1.block.layers.1.weight_v": np.zeros((2, 8, 6)),
                "decoder.model.layers.1.block.layers.1.weight_g": np.zeros((1, 1, 6)),
                "encoder.block.layers.0.weight_g": np.zeros((5, 1, 1)),
                "encoder.block.layers.0.weight_v": np.zeros((5, 7, 6)),
                "decoder.model.layers.1.block.layers.0.alpha": np.zeros((1, 1, 6))}
    out = sequential_to_peer(state, expected)
    assert sorted(out) == sorted(expected)  # the training statistic is dropped, nothing else
    assert all(out[k].shape == expected[k].shape for k in out)
    np.testing.assert_array_equal(out["decoder.model.layers.0.weight_v"], conv.swapaxes(1, 2))
    np.testing.assert_allclose(out["decoder.model.layers.0.weight_g"][:, 0, 0],
                               np.linalg.norm(conv.reshape(6, -1), axis=1), rtol=1e-6)
    np.testing.assert_array_equal(out["decoder.model.layers.1.block.layers.1.weight_v"], convt.transpose(1, 2, 0))
    np.testing.assert_allclose(out["decoder.model.layers.1.block.layers.1.weight_g"][0, 0],
                               np.linalg.norm(convt.reshape(6, -1), axis=1), rtol=1e-6)
    np.testing.assert_array_equal(out["encoder.block.layers.0.weight_v"], v.swapaxes(1, 2))
    np.testing.assert_array_equal(out["encoder.block.layers.0.weight_g"], g)
    np.testing.assert_array_equal(out["decoder.model.layers.1.block.layers.0.alpha"].reshape(-1), alpha.reshape(-1))


def test_encodec_lstm_biases_are_summed_for_mlx_audio():
    rng = np.random.default_rng(1)
    w_ih, w_hh, b_ih, b_hh, conv = (rng.standard_normal(s).astype(np.float32) for s in
                                    ((8, 2), (8, 2), (8,), (8,), (4, 3, 1)))
    lab = {"encoder.layers.13.lstm.weight_ih_l1": w_ih, "encoder.layers.13.lstm.weight_hh_l1": w_hh,
           "encoder.layers.13.lstm.bias_ih_l1": b_ih, "encoder.layers.13.lstm.bias_hh_l1": b_hh,
           "encoder.layers.0.conv.weight": conv}
    out = peer_weights(lab)
    assert sorted(out) == ["encoder.layers.0.conv.weight", "encoder.layers.13.lstm.1.Wh",
                           "encoder.layers.13.lstm.1.Wx", "encoder.layers.13.lstm.1.bias"]
    np.testing.assert_array_equal(out["encoder.layers.13.lstm.1.Wx"], w_ih)
    np.testing.assert_array_equal(out["encoder.layers.13.lstm.1.Wh"], w_hh)
    np.testing.assert_allclose(out["encoder.layers.13.lstm.1.bias"], b_ih + b_hh)
    assert out["encoder.layers.0.conv.weight"] is conv


@pytest.mark.parametrize("name", ["encodec_24khz", "dac_44khz", "snac_24khz", "mimi", "vocos_mel_24khz",
                                  "kokoro_82m"])
def test_codec_configs_are_the_real_sizes(name):
    cfg = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "configs" / f"{name}.json").read_text())
    widths = {"encodec_24khz": ("hidden_size", 128), "dac_44khz": ("decoder_hidden_size", 1536),
              "snac_24khz": ("decoder_dim", 1024), "mimi": ("hidden_size", 512), "kokoro_82m": ("hidden_dim", 512)}
    if name == "vocos_mel_24khz":
        assert cfg["backbone"]["init_args"]["dim"] == 512 and cfg["backbone"]["init_args"]["num_layers"] == 8
    else:
        key, want = widths[name]
        assert cfg[key] == want
    if name == "kokoro_82m":
        assert len(cfg["vocab"]) == 114 and cfg["plbert"]["num_hidden_layers"] == 12


def test_summary_adds_stages_and_skips_non_engine_rows():
    from benchmarks.models.codec_common import summary

    def t(median: float, peak: float) -> dict:
        return {"median_s": median, "audio_s_per_s": 2.0 / median, "memory": {"peak_mb": peak}}

    stages = {"encode": {"audio_s": 2.0, "torch": t(1.0, 10.0), "mlx_audio_lab": t(0.5, 30.0),
                         "flops": {"count": 1e9}, "speedup_vs_torch": 2.0},
              "decode": {"audio_s": 2.0, "torch": t(3.0, 20.0), "mlx_audio_lab": t(1.5, 5.0)}}
    rows = summary(stages, ("encode", "decode"))
    assert sorted(rows) == ["mlx_audio_lab", "torch"]
    assert rows["mlx_audio_lab"]["audio_s_per_s"] == pytest.approx(1.0)  # 2 s of audio in 0.5 + 1.5 s
    assert rows["mlx_audio_lab"]["rtf"] == pytest.approx(1.0) and rows["torch"]["rtf"] == pytest.approx(2.0)
    assert rows["mlx_audio_lab"]["vs_torch"] == pytest.approx(2.0) and rows["torch"]["vs_torch"] == 1.0
    assert rows["mlx_audio_lab"]["peak_mb"] == 30.0 and rows["torch"]["peak_mb"] == 20.0
