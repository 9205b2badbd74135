"""The PyTorch side of Voxtral: transformers' VoxtralForConditionalGeneration, its fixture and tap map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....parity import TapPoint

# Fixture sizes: widths divisible by 64 (so 4/8-bit quantization applies), a Tekken-like byte vocabulary.
SIZES = {
    "tiny": dict(
        audio=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4),
        text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=16),
    ),
}
N_SPECIAL = 40  # control tokens before the 256 byte tokens (the real Tekken has 1000)


def _config(folder: Path) -> dict:
    return json.loads((Path(folder) / "config.json").read_text())


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of transformers' model, in forward order (data, not code)."""
    cfg = _config(folder)
    n_enc = cfg["audio_config"]["num_hidden_layers"]
    n_dec = cfg["text_config"]["num_hidden_layers"]
    return [
        TapPoint("encoder.conv1", "model.audio_tower.conv1", layout="channels_first"),
        TapPoint("encoder.conv2", "model.audio_tower.conv2", layout="channels_first"),
        *[TapPoint(f"encoder.layers.{i}", f"model.audio_tower.layers.{i}") for i in range(n_enc)],
        TapPoint("encoder.layer_norm", "model.audio_tower.layer_norm"),
        TapPoint("projector", "model.multi_modal_projector"),
        *[TapPoint(f"decoder.layers.{i}", f"model.language_model.layers.{i}") for i in range(n_dec)],
        TapPoint("decoder.norm", "model.language_model.norm"),
        TapPoint("decoder.logits", "lm_head"),
    ]


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a seeded random VoxtralForConditionalGeneration (HF layout) with a tiny Tekken-like tokenizer."""
    import torch
    from transformers import GenerationConfig, VoxtralConfig, VoxtralForConditionalGeneration, WhisperFeatureExtractor

    from ....fixtures import randomize_
    from .tokenizer import tiny_tokenizer_json

    torch.manual_seed(0)
    s = SIZES[size]
    text = dict(model_type="llama", vocab_size=N_SPECIAL + 256, rms_norm_eps=1e-5, max_position_embeddings=4096,
                rope_theta=1e8, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=11,
                **s["text"])
    audio = dict(model_type="voxtral_encoder", num_mel_bins=128, max_source_positions=1500, **s["audio"])
    config = VoxtralConfig(audio_config=audio, text_config=text, audio_token_id=24, projector_hidden_act="gelu")
    model = VoxtralForConditionalGeneration(config).eval()
    # Wider spreads in the language model keep its greedy output varied (0.08 everywhere repeats one token)
    # while its activations stay small enough for fp32 RoPE at ~400 positions to agree within 1e-4.
    inner = model.model
    parts = [(inner.audio_tower, 0.15), (inner.multi_modal_projector, 0.15), (inner.language_model, 0.2),
             (inner.language_model.embed_tokens, 0.4), (model.lm_head, 0.4)]
    for seed, (part, std) in enumerate(parts):
        randomize_(part, seed=seed, std=std)
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=11)
    model.save_pretrained(folder, safe_serialization=True)
    WhisperFeatureExtractor(feature_size=128).save_pretrained(folder)  # as the hub repo ships it
    tiny_tokenizer_json(Path(folder) / "tokenizer.json", N_SPECIAL)


def parity_inputs(folder: Path, clip: str = "fox") -> dict[str, np.ndarray]:
    """Log-mel chunks of a spoken clip (noise if espeak-ng is missing) and the transcription prompt."""
    from ....fixtures import speech
    from .config import VoxtralConfig
    from .generate import features
    from .tokenizer import VoxtralTokenizer

    cfg = VoxtralConfig.from_dict(_config(folder))
    if speech.espeak_available():
        audio = speech.speech(clip, 16000)
    else:
        audio = (np.random.default_rng(0).standard_normal(16000 * 3) * 0.1).astype(np.float32)
    mel = features(audio, cfg.audio_config["num_mel_bins"])  # (chunks, 3000, n_mels)
    tok = VoxtralTokenizer(Path(folder) / "tokenizer.json")
    prompt = tok.transcription_prompt(mel.shape[0] * cfg.tokens_per_chunk, "en")
    return {"mel": mel.astype(np.float32), "prompt": np.array([prompt], dtype=np.int64)}


def load_reference(folder: Path):
    """transformers' model with the folder's weights, fp32, eval mode."""
    from transformers import VoxtralForConditionalGeneration
    from transformers.utils import logging

    bar = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # no "Loading weights" bar in notebook outputs
    try:
        return VoxtralForConditionalGeneration.from_pretrained(folder, dtype="float32").eval()
    finally:
        if bar:
            logging.enable_progress_bar()


def reference_generate(model, inputs: dict[str, np.ndarray], max_new_tokens: int = 32):
    """transformers' greedy `generate` on the inputs -> (prompt + generated ids (1, T), features tensor)."""
    import torch

    feats = torch.from_numpy(inputs["mel"]).transpose(1, 2)  # (chunks, n_mels, 3000)
    prompt = torch.from_numpy(inputs["prompt"])
    with torch.no_grad():
        full = model.generate(input_ids=prompt, input_features=feats, attention_mask=torch.ones_like(prompt),
                              max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
    return full, feats


def run_reference(folder: Path, inputs: dict[str, np.ndarray], max_new_tokens: int = 32, taps: bool = True):
    """Greedy `generate` with transformers, then a teacher-forced pass over the result with hooks at the taps."""
    from ....parity.torch_hooks import capture_torch

    model = load_reference(folder)
    full, feats = reference_generate(model, inputs, max_new_tokens)
    acts = {}
    if taps:
        paths = [p.ref for p in tap_points(folder)]
        acts, _ = capture_torch(model, paths, lambda: model(input_ids=full, input_features=feats))
    return acts, {"tokens": full.numpy(), "prompt_length": np.array([inputs["prompt"].shape[1]])}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray], max_new_tokens: int = 32, taps: bool = True, **load_kw):
    """The port on the same inputs: greedy decoding, then the same teacher-forced pass with taps on."""
    import mlx.core as mx

    from ....taps import capture
    from .generate import greedy
    from .load import load_model

    model = load_model(folder, **load_kw)
    mel = mx.array(inputs["mel"])
    prompt = inputs["prompt"][0].tolist()
    full = mx.array([prompt + greedy(model, prompt, mel, max_new_tokens)])
    acts = {}
    if taps:
        with capture() as acts:
            model(mel, full)
    return {k: np.array(v) for k, v in acts.items()}, {"tokens": np.array(full),
                                                       "prompt_length": np.array([len(prompt)])}


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Greedy tokens identical (prompt + generated), and not a constant sequence."""
    a, b = mlx_out["tokens"][0].tolist(), ref_out["tokens"][0].tolist()
    start = int(ref_out["prompt_length"][0])
    same = a == b
    note = (f"greedy tokens {'identical' if same else 'differ'} "
            f"({len(b) - start} generated, {len(set(b[start:]))} distinct)")
    if not same:
        k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        note += f"; first difference at position {k}"
    return same, note
