"""The PyTorch side of Wav2Vec2: transformers' Wav2Vec2ForCTC, its fixtures and tap map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....parity import TapPoint

# The character vocabulary of facebook/wav2vec2-base-960h: specials, the word delimiter, then letters.
VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"]

# Fixture sizes: the real conv strides (20 ms frames) and vocabulary, tiny widths.
_COMMON = dict(
    hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
    conv_dim=[32, 32, 32, 32, 32, 32, 64], conv_stride=[5, 2, 2, 2, 2, 2, 2], conv_kernel=[10, 3, 3, 3, 3, 2, 2],
    num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, vocab_size=len(VOCAB),
    pad_token_id=0, bos_token_id=1, eos_token_id=2,
)
SIZES = {
    "tiny": dict(_COMMON, feat_extract_norm="group", do_stable_layer_norm=False, conv_bias=False),  # base-style
    "tiny-large": dict(_COMMON, feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True),  # large
}
# Added to the (blank, word delimiter) logits so the random head emits CTC-like paths on speech: about half
# the frames blank, characters between them, and words separated by `|`.
HEAD_BIAS = {"tiny": (1.4, 1.2), "tiny-large": (0.9, 0.8)}


def _config(folder: Path) -> dict:
    p = Path(folder) / "config.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of transformers' model, in forward order (data, not code)."""
    cfg = _config(folder)
    n_conv = len(cfg.get("conv_dim", [0] * 7))
    n_layers = cfg.get("num_hidden_layers", 12)
    layers = [TapPoint(f"encoder.layers.{i}", f"wav2vec2.encoder.layers.{i}") for i in range(n_layers)]
    norm = [TapPoint("encoder.layer_norm", "wav2vec2.encoder.layer_norm")]
    return [
        *[TapPoint(f"feature_encoder.conv_layers.{i}", f"wav2vec2.feature_extractor.conv_layers.{i}",
                   layout="channels_first") for i in range(n_conv)],
        TapPoint("feature_projection", "wav2vec2.feature_projection"),
        TapPoint("encoder.pos_conv_embed", "wav2vec2.encoder.pos_conv_embed"),
        *(layers + norm if cfg.get("do_stable_layer_norm") else norm + layers),
        TapPoint("lm_head", "lm_head"),
    ]


def _quiet() -> None:
    """No transformers progress bars (their timings would make notebook outputs unstable)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a seeded random Wav2Vec2ForCTC, its vocab.json and preprocessor config (HF layout)."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    from ....fixtures import randomize_

    _quiet()
    torch.manual_seed(0)
    config = Wav2Vec2Config(**SIZES[size])
    model = Wav2Vec2ForCTC(config).eval()
    randomize_(model, seed=0, std=0.08)
    with torch.no_grad():  # keep activations alive through the un-normed convs (std ~ 1.5 / sqrt(fan_in))
        g = torch.Generator().manual_seed(1)
        for layer in model.wav2vec2.feature_extractor.conv_layers:
            w = layer.conv.weight
            w.copy_(torch.randn(w.shape, generator=g) * 1.5 / (w.shape[1] * w.shape[2]) ** 0.5)
        blank, delimiter = HEAD_BIAS[size]
        model.lm_head.bias[config.pad_token_id] += blank
        model.lm_head.bias[VOCAB.index("|")] += delimiter
    model.save_pretrained(folder, safe_serialization=True)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=size != "tiny").save_pretrained(folder)
    (Path(folder) / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}))


def clip_audio(clip: str = "fox") -> np.ndarray:
    """16 kHz speech of a named clip (seeded noise if espeak-ng is missing)."""
    from ....fixtures import speech

    if speech.espeak_available():
        return speech.speech(clip, 16000)
    return (np.random.default_rng(0).standard_normal(16000 * 3) * 0.1).astype(np.float32)


def parity_inputs(folder: Path, clip: str = "fox") -> dict[str, np.ndarray]:
    """Normalized 16 kHz audio (1, S), exactly as `Wav2Vec2FeatureExtractor` prepares it."""
    from transformers import Wav2Vec2FeatureExtractor

    fe = Wav2Vec2FeatureExtractor.from_pretrained(folder)
    values = fe(clip_audio(clip), sampling_rate=16000, return_tensors="np").input_values
    return {"input_values": values.astype(np.float32)}


def load_reference(folder: Path):
    """transformers' model with the folder's weights, fp32, eval mode."""
    from transformers import Wav2Vec2ForCTC

    _quiet()
    return Wav2Vec2ForCTC.from_pretrained(folder, dtype="float32").eval()


def run_reference(folder: Path, inputs: dict[str, np.ndarray], model=None):
    """One forward pass with hooks at the taps; greedy CTC ids are the argmax of the logits."""
    import torch

    from ....parity.torch_hooks import capture_torch

    model = model if model is not None else load_reference(folder)
    x = torch.from_numpy(inputs["input_values"])
    paths = [p.ref for p in tap_points(folder)]
    acts, out = capture_torch(model, paths, lambda: model(x))
    return acts, {"ids": out.logits.argmax(-1).numpy()}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray], model=None):
    """The port on the same inputs with taps on; greedy ids from its logits."""
    import mlx.core as mx

    from ....taps import capture
    from .load import load_model

    model = model if model is not None else load_model(folder)
    with capture() as acts:
        logits = model(mx.array(inputs["input_values"]))
    return {k: np.array(v) for k, v in acts.items()}, {"ids": np.array(logits.argmax(-1)).astype(np.int64)}


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Greedy CTC ids identical frame by frame (and not all blank)."""
    a, b = mlx_out["ids"].reshape(-1), ref_out["ids"].reshape(-1)
    same = a.shape == b.shape and bool((a == b).all())
    blank = float((b == 0).mean())
    note = (f"greedy CTC ids {'identical' if same else 'differ'} ({b.size} frames, "
            f"{len(set(b.tolist()))} distinct, {blank:.0%} blank)")
    if not same and a.shape == b.shape:
        note += f"; {int((a != b).sum())} frames differ, first at {int(np.flatnonzero(a != b)[0])}"
    return same, note
