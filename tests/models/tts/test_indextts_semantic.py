"""IndexTTS 2's semantic front end against its references: SeamlessM4T input features equal transformers' on an
espeak-ng clip (even and odd frame counts), w2v-BERT 2.0 within tolerance at every layer up to the hidden state
IndexTTS reads (and that state normalised with the stats file), the MaskGCT semantic codec's codes identical and its
embeddings (quantize, vq2emb) within tolerance, and the whole front end from audio."""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.fixtures import build
from mlx_audio_lab.fixtures.speech import espeak_available
from mlx_audio_lab.models.tts.indextts import reference_semantic as rs
from mlx_audio_lab.models.tts.indextts.semantic import HIDDEN_LAYER, load_semantic, seamless_features
from mlx_audio_lab.parity.core import TapPoint, compare
from mlx_audio_lab.parity.torch_hooks import capture_torch
from mlx_audio_lab.taps import capture

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (the parity clip)")
TOL = 1e-4  # max-abs error per tap (+ 1e-5 x the reference's max), float32 both sides


@pytest.fixture(scope="module")
def folder():
    return build("indextts_semantic")


@pytest.fixture(scope="module")
def ref(folder):
    return rs.load_reference(folder)


@pytest.fixture(scope="module")
def front(folder):
    return load_semantic(folder)


@pytest.fixture(scope="module")
def audio():
    return rs.parity_audio()


@pytest.fixture(scope="module")
def reference(folder, ref, audio):
    return rs.run_reference(folder, audio, ref, capture=capture_torch)


@pytest.fixture(scope="module")
def ported(front, reference):
    """The port on the reference's own input features (w2v-BERT) and embedding (codec): each part alone."""
    _, out = reference
    with capture() as acts:
        emb = front.embed(mx.array(out["input_features"]))
        codes, quantized = front.codec.quantize(mx.array(out["emb"]))
    taps = {k: np.array(v) for k, v in acts.items()}
    return taps, {"emb": np.array(emb), "codes": np.array(codes), "quantized": np.array(quantized)}


def _report(taps, acts, points):
    return compare("indextts_semantic", [TapPoint(n, r, TOL, layout) for n, r, layout in points], taps, acts, True)


def test_fixture_is_upstream_layout(folder):
    import safetensors
    import yaml

    cfg = json.loads((folder / "w2v-bert-2.0" / "config.json").read_text())
    assert cfg["model_type"] == "wav2vec2-bert" and cfg["position_embeddings_type"] == "relative_key"
    assert cfg["num_hidden_layers"] > HIDDEN_LAYER
    pre = json.loads((folder / "w2v-bert-2.0" / "preprocessor_config.json").read_text())
    assert pre["feature_extractor_type"] == "SeamlessM4TFeatureExtractor" and pre["padding_value"] == 1.0
    assert set(yaml.safe_load((folder / "config.yaml").read_text())) == {"semantic_codec", "w2v_stat"}
    with safetensors.safe_open(folder / "semantic_codec" / "model.safetensors", "np") as f:
        keys = set(f.keys())
    assert {"quantizer.quantizers.0.in_project.weight_g", "encoder.0.embed.weight", "decoder.1.weight"} <= keys


@pytest.mark.parametrize("trim", [0, 160], ids=["even-frames", "odd-frames"])
def test_input_features_equal_transformers(ref, audio, trim):
    import torch

    clip = audio[: len(audio) - trim]
    want = ref["extract_features"](torch.from_numpy(clip)[None], sampling_rate=16000,
                                   return_tensors="pt")["input_features"].numpy()
    got = np.array(seamless_features(clip))
    assert got.shape == want.shape and want.shape[-1] == 160
    assert np.abs(got - want).max() < 2e-4, np.abs(got - want).max()
    frames = 1 + (len(clip) - 400) // 160
    if frames % 2:  # the row padding an odd count holds the extractor's padding value in its second half
        assert np.all(got[0, -1, 80:] == 1.0)


def test_w2vbert_every_layer_within_tolerance(reference, ported):
    acts, _ = reference
    taps, _ = ported
    points = rs.w2vbert_taps()
    assert len(points) == HIDDEN_LAYER + 1
    report = _report(taps, acts, points)
    assert report.ok, report.table()
    assert all(r.max_abs <= TOL for r in report.layers), report.table()


def test_emb_is_hidden_state_17_normalised(reference, ported):
    _, want = reference
    _, got = ported
    assert got["emb"].shape == want["emb"].shape
    assert np.abs(got["emb"] - want["emb"]).max() < TOL * 10  # divided by std (>= 0.7): errors grow a little


def test_codec_codes_identical_and_embeddings_within_tolerance(reference, ported, front):
    acts, want = reference
    taps, got = ported
    report = _report(taps, {k.removeprefix("codec:"): v for k, v in acts.items() if k.startswith("codec:")},
                     rs.codec_taps(len(front.codec.encoder[0].convnext)))
    assert report.ok, report.table()
    codes = want["codes"]
    assert codes.shape == got["codes"].shape == want["emb"].shape[:2]
    assert np.array_equal(got["codes"], codes)
    assert len(np.unique(codes)) >= 16  # codes vary over the clip
    assert np.abs(got["quantized"] - want["quantized"]).max() < TOL
    assert np.abs(np.array(front.vq2emb(mx.array(codes))) - want["vq2emb"]).max() < TOL


def test_vq2emb_of_any_codes(front, ref):
    import torch

    codes = np.random.default_rng(0).integers(0, front.codec.config.codebook_size, size=(1, 40))
    with torch.no_grad():
        want = ref["semantic_codec"].quantizer.vq2emb(torch.from_numpy(codes)[:, None]).transpose(1, 2).numpy()
    assert np.abs(np.array(front.vq2emb(mx.array(codes))) - want).max() < TOL


def test_front_end_from_audio(front, audio, reference):
    """`features(audio16k)` end to end: the GPT's conditioning, the codes and their embedding as upstream's."""
    _, want = reference
    feats, codes, emb = front.features(audio)
    assert np.abs(np.array(feats) - want["emb"]).max() < 1e-3
    assert np.array_equal(np.array(codes), want["codes"])
    assert np.abs(np.array(emb) - want["quantized"]).max() < TOL


def test_only_the_layers_indextts_reads_are_loaded(front, folder):
    cfg = json.loads((folder / "w2v-bert-2.0" / "config.json").read_text())
    assert len(front.w2vbert.layers) == HIDDEN_LAYER < cfg["num_hidden_layers"]


def test_config_without_codec_section_is_refused(tmp_path, folder):
    from mlx_audio_lab.errors import WeightsError

    (tmp_path / "config.yaml").write_text("gpt: {}\n")
    with pytest.raises(WeightsError, match="semantic_codec"):
        load_semantic(tmp_path, w2vbert=folder / "w2v-bert-2.0")


def test_benchmark_runs_tiny_and_the_codes_agree():
    from benchmarks import harness
    from benchmarks.models import indextts_semantic

    out = indextts_semantic.run(harness.Context(repeats=1, warmup=0, options={"size": "tiny", "seconds": "1"}))
    assert out["shape"]["reduced"] and set(out["summary"]) == {"mlx_audio_lab", "torch"}
    assert out["per_engine"]["mlx_audio_lab"]["codes_agree_with_torch"] == 1.0
    assert out["summary"]["mlx_audio_lab"]["audio_s_per_s"] > 0


def test_wide_fixture_gives_the_gpt_its_1024_dims(audio):
    """The 1024-wide fixture (what the GPT's conditioning encoders and s2mel take), one layer read
    (`w2v_hidden_layer` 1): features, codes and embedding as the reference's."""
    wide = build("indextts_semantic", "wide")
    front = load_semantic(wide)
    clip = audio[:16000]
    _, want = rs.run_reference(wide, clip)
    feats, codes, emb = front.features(clip)
    assert feats.shape == (1, 49, 1024) and len(front.w2vbert.layers) == 1
    assert np.abs(np.array(feats) - want["emb"]).max() < 1e-3
    assert np.array_equal(np.array(codes), want["codes"]) and len(np.unique(want["codes"])) >= 8
    assert np.abs(np.array(emb) - want["quantized"]).max() < TOL


def test_vq2emb_refuses_codes_outside_the_codebook(front):
    from mlx_audio_lab.errors import CodesError

    with pytest.raises(CodesError, match="outside 0..63"):
        front.vq2emb(mx.array([[1, 2, 64]]))


@pytest.mark.slow
def test_real_widths_one_layer_and_the_real_codec(audio):
    """w2v-bert-2.0's real widths (1024, 16 heads of 64, FFN 4096; one layer) and the real codec (8192 codes,
    12 ConvNeXt blocks), seeded: hidden state and codes as the reference's on 2 s of the espeak-ng clip."""
    import torch
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.fixtures import randomize_
    from mlx_audio_lab.models.tts.indextts.semantic import SemanticCodec, SemanticCodecConfig, W2VBert, W2VBertConfig
    from mlx_audio_lab.models.tts.indextts.semantic.convert import CODEC, W2VBERT, prepare_codec, prepare_w2vbert

    def state(m):
        return {k: v.detach().float().numpy() for k, v in m.state_dict().items()}

    cfg = rs.W2VBERT_SIZES["real"] | {"num_hidden_layers": 1}
    torch.manual_seed(0)
    w2v = Wav2Vec2BertModel(Wav2Vec2BertConfig(**cfg)).eval()
    randomize_(w2v, seed=0, std=0.02)
    codec = rs._codec(rs.CODEC_SIZES["real"]).eval()
    randomize_(codec, seed=1, std=0.02)
    port = fill_model(W2VBert(W2VBertConfig.from_dict(cfg), 1), prepare_w2vbert(state(w2v), 1), W2VBERT, cfg, "test")
    port_codec = fill_model(SemanticCodec(SemanticCodecConfig.from_dict(rs.CODEC_SIZES["real"])),
                            prepare_codec(state(codec)), CODEC, {}, "test")
    feats = SeamlessM4TFeatureExtractor(padding_value=1.0)(torch.from_numpy(audio[:32000])[None], sampling_rate=16000,
                                                         return_tensors="pt")
    with torch.no_grad():
        want = w2v(**feats, output_hidden_states=True).hidden_states[1]
        want_codes, _ = codec.quantize(want)
    got = port(mx.array(feats["input_features"].numpy()))
    scale = float(want.abs().max())
    assert np.abs(np.array(got) - want.numpy()).max() <= 1e-4 + 1e-5 * scale
    got_codes, _ = port_codec.quantize(mx.array(want.numpy()))
    assert np.array_equal(np.array(got_codes), want_codes.numpy())
