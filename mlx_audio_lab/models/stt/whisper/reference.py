"""The PyTorch side of Whisper: transformers' WhisperForConditionalGeneration, its fixture and tap map."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ....parity import TapPoint

# Fixture sizes: the real vocabulary (so the real tokenizer and control tokens work), tiny widths.
_TINY = dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
             decoder_attention_heads=4, encoder_ffn_dim=256, decoder_ffn_dim=256)
_MULTI = dict(vocab_size=51865, decoder_start_token_id=50258, bos_token_id=50258, eos_token_id=50257,
              pad_token_id=50257)
_V3 = dict(_MULTI, vocab_size=51866, num_mel_bins=128)
SIZES = {
    "tiny": _TINY,
    # the structural options of the larger checkpoints, at tiny widths (the real sizes differ only in widths)
    "multilingual": dict(_TINY, **_MULTI),  # openai/whisper-tiny ... large-v2: 51865 tokens, 80 mels
    "large-v3": dict(_TINY, **_V3),  # 128 mels, 51866 tokens (<|yue|>)
    "large-v3-turbo": dict(_TINY, **_V3, encoder_layers=4, decoder_layers=4),  # 32 encoder : 4 decoder layers
    "distil-large-v3": dict(_TINY, **_V3, encoder_layers=4, decoder_layers=2),  # distil-whisper: 2 decoder layers
}


def reference_folder(folder: Path) -> Path:
    """A folder transformers can load: the folder itself, or a cached HF copy of a CTranslate2 model."""
    from ....fixtures.cache import cache_dir
    from .ct2 import write_hf_folder
    from .load import detect_layout

    folder = Path(folder)
    if detect_layout(folder) != "ctranslate2":
        return folder
    stat = (folder / "model.bin").stat()
    out = cache_dir("real", f"{folder.name}-{stat.st_size}-{int(stat.st_mtime)}-hf")
    if not (out / "model.safetensors").is_file():
        write_hf_folder(folder, out)
    return out


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of transformers' model, in forward order (data, not code)."""
    cfg = json.loads((reference_folder(folder) / "config.json").read_text())
    n_enc = cfg.get("encoder_layers", 4)
    n_dec = cfg.get("decoder_layers", 4)
    points = [
        TapPoint("encoder.conv1", "model.encoder.conv1", layout="channels_first"),
        TapPoint("encoder.conv2", "model.encoder.conv2", layout="channels_first"),
        *[TapPoint(f"encoder.layers.{i}", f"model.encoder.layers.{i}") for i in range(n_enc)],
        TapPoint("encoder.layer_norm", "model.encoder.layer_norm"),
        *[TapPoint(f"decoder.layers.{i}", f"model.decoder.layers.{i}") for i in range(n_dec)],
        TapPoint("decoder.layer_norm", "model.decoder.layer_norm"),
        TapPoint("decoder.logits", "proj_out", tol=1e-3),
    ]
    return points


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a seeded random WhisperForConditionalGeneration in the Hugging Face layout."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    from ....fixtures import randomize_
    from ....hub import resolve

    tiny_en = resolve("whisper-tiny.en")  # the real tokenizer and control-token config
    ct2_cfg = json.loads((tiny_en / "config.json").read_text())
    torch.manual_seed(0)
    dims = dict(vocab_size=51864, num_mel_bins=80, decoder_start_token_id=50257, eos_token_id=50256,
                pad_token_id=50256, bos_token_id=50257)
    dims.update(SIZES[size])
    config = WhisperConfig(
        max_source_positions=1500, max_target_positions=448,
        suppress_tokens=ct2_cfg["suppress_ids"], begin_suppress_tokens=ct2_cfg["suppress_ids_begin"], **dims,
    )
    model = WhisperForConditionalGeneration(config).eval()
    randomize_(model, seed=0, std=0.08, keep=("model.encoder.embed_positions.weight",))
    heads = [[layer, head] for layer in range(config.decoder_layers // 2, config.decoder_layers)
             for head in range(0, config.decoder_attention_heads, 2)]  # tiny.en's table does not fit tiny dims
    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(folder)
    if config.vocab_size >= 51865:  # the multilingual id layout (control tokens one or two higher)
        from .tokenizer import multilingual_layout

        english = json.loads((tiny_en / "tokenizer.json").read_text(encoding="utf-8"))
        tok = multilingual_layout(english, v3=config.vocab_size >= 51866)
        (folder / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    else:
        shutil.copy(tiny_en / "tokenizer.json", folder / "tokenizer.json")
    model.generation_config = generation_config(config, heads, folder / "tokenizer.json")
    model.save_pretrained(folder, safe_serialization=True)


def generation_config(config, alignment_heads: list[list[int]], tokenizer: Path | None = None):
    """The generation config as openai/whisper-* ship it: control ids from the tokenizer, and for multilingual
    vocabularies the language and task tables."""
    from transformers import GenerationConfig

    ids = {}
    if tokenizer is not None:
        ids = {t["content"]: t["id"] for t in json.loads(Path(tokenizer).read_text(encoding="utf-8"))["added_tokens"]}
    m = int(config.vocab_size >= 51865)
    extra = {}
    if m and ids:
        from .tokenizer import LANGUAGES

        extra = dict(lang_to_id={f"<|{c}|>": ids[f"<|{c}|>"] for c in LANGUAGES if f"<|{c}|>" in ids},
                     task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]})
    return GenerationConfig(
        **extra,
        decoder_start_token_id=50257 + m, bos_token_id=50257 + m, eos_token_id=50256 + m, pad_token_id=50256 + m,
        max_length=448, no_timestamps_token_id=ids.get("<|notimestamps|>", 50362 + m),
        prev_sot_token_id=ids.get("<|startofprev|>", 50360 + m), is_multilingual=bool(m),
        suppress_tokens=list(config.suppress_tokens), begin_suppress_tokens=list(config.begin_suppress_tokens),
        alignment_heads=alignment_heads, max_initial_timestamp_index=50, return_timestamps=False,
    )


def parity_inputs(folder: Path, clip: str = "fox") -> dict[str, np.ndarray]:
    """Log-mel of a spoken clip (noise if espeak-ng is missing) and the decoder prompt."""
    from ....dsp import log_mel_spectrogram
    from ....fixtures import speech

    n_mels = json.loads((reference_folder(folder) / "config.json").read_text()).get("num_mel_bins", 80)
    if speech.espeak_available():
        audio = speech.speech(clip, 16000)
    else:
        audio = (np.random.default_rng(0).standard_normal(16000 * 3) * 0.1).astype(np.float32)
    mel = np.array(log_mel_spectrogram(audio, n_mels=n_mels))[None]  # (1, 3000, n_mels)
    return {"mel": mel.astype(np.float32), "prompt": np.array([[50257, 50362]], dtype=np.int64)}


def load_reference(folder: Path):
    """transformers' model with the folder's weights, fp32, eval mode."""
    from transformers import WhisperForConditionalGeneration

    return WhisperForConditionalGeneration.from_pretrained(reference_folder(folder), dtype="float32").eval()


def run_reference(folder: Path, inputs: dict[str, np.ndarray], max_new_tokens: int = 32):
    """Greedy-decode with transformers, then a teacher-forced pass over the result with hooks at the taps."""
    import torch

    from ....parity.torch_hooks import capture_torch

    model = load_reference(folder)
    mel = torch.from_numpy(inputs["mel"]).transpose(1, 2)
    prompt = torch.from_numpy(inputs["prompt"])
    with torch.no_grad():
        out = model.generate(mel, decoder_input_ids=prompt, max_new_tokens=max_new_tokens, do_sample=False,
                             num_beams=1, return_timestamps=False, return_dict_in_generate=True)
    full = out.sequences  # the prompt followed by the generated tokens
    paths = [p.ref for p in tap_points(folder)]
    acts, _ = capture_torch(model, paths, lambda: model(input_features=mel, decoder_input_ids=full))
    return acts, {"tokens": full.numpy()}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray], max_new_tokens: int = 32):
    """The port on the same inputs: greedy decoding, then the same teacher-forced pass with taps on."""
    import mlx.core as mx

    from ....taps import capture
    from .decoding import greedy
    from .load import load_model

    model = load_model(folder)
    mel = mx.array(inputs["mel"])
    prompt = inputs["prompt"][0].tolist()
    tokens = greedy(model, model.embed_audio(mel), prompt, max_new_tokens=max_new_tokens)
    full = mx.array([prompt + tokens])
    with capture() as acts:
        model(mel, full)
    return {k: np.array(v) for k, v in acts.items()}, {"tokens": np.array(full)}


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Greedy tokens identical, and not a constant sequence."""
    a, b = mlx_out["tokens"][0].tolist(), ref_out["tokens"][0].tolist()
    same = a == b
    distinct = len(set(b[2:]))
    note = f"greedy tokens {'identical' if same else 'differ'} ({len(b) - 2} generated, {distinct} distinct)"
    if not same:
        k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        note += f"; first difference at position {k}"
    return same, note


def decode_both(folder: Path, audio: np.ndarray, beam_size: int = 1) -> dict[str, list[int]]:
    """Decode one <=30 s clip with the port and with transformers on the same features (no timestamps).

    Returns {"port": tokens, "reference": tokens} (generated tokens after the prompt, end-of-text dropped).
    """
    import mlx.core as mx
    import torch

    from ....dsp import log_mel_spectrogram
    from ....parity.core import quiet_reference
    from .decoding import beam_search, greedy
    from .load import load_model

    quiet_reference()
    model = load_model(folder)
    mel = np.array(log_mel_spectrogram(audio, n_mels=model.config.num_mel_bins))[None]
    prompt = model.tokenizer.sot_sequence(timestamps=False)
    features = model.embed_audio(mx.array(mel))
    if beam_size > 1:
        port = beam_search(model, features, prompt, beam_size=beam_size)
    else:
        port = greedy(model, features, prompt)
    ref_model = load_reference(folder)
    with torch.no_grad():
        out = ref_model.generate(torch.from_numpy(mel).transpose(1, 2), num_beams=beam_size, do_sample=False,
                                 length_penalty=1.0, return_timestamps=False, return_dict_in_generate=True)
    eot = model.config.eos_token_id
    ref = [t for t in out.sequences[0].tolist()[len(prompt):] if t != eot]
    return {"port": [t for t in port if t != eot], "reference": ref}


def pipeline_words(folder: Path, audio: np.ndarray, beam_size: int = 1) -> list:
    """Words with times from transformers' ASR pipeline (`return_timestamps="word"`) on the folder's weights."""
    from transformers import WhisperProcessor, pipeline

    from ....parity.core import quiet_reference
    from ....results import Word

    quiet_reference()
    folder = reference_folder(folder)
    proc = WhisperProcessor.from_pretrained(folder)
    pipe = pipeline("automatic-speech-recognition", model=load_reference(folder), tokenizer=proc.tokenizer,
                    feature_extractor=proc.feature_extractor, device="cpu")
    out = pipe(np.array(audio, np.float32), return_timestamps="word", generate_kwargs={"num_beams": beam_size})
    return [Word(c["text"], float(c["timestamp"][0]), float(c["timestamp"][1])) for c in out["chunks"]]
