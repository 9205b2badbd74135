"""CTranslate2 `WhisperSpec` -> Hugging Face `WhisperForConditionalGeneration`: name tables (data), a writer.

CT2 fuses the self-attention q|k|v into `self_attention/linear_0` and the cross-attention k|v into
`attention/linear_1` (rows stacked in that order); `SPLITS` cuts them into named parts, `CT2_TO_HF` renames.
The fused k bias is zero-filled by the converter; HF's k_proj has none (a k bias never changes attention:
softmax ignores a per-query constant), so it is dropped. Weights are float16/int8 on disk, float32 here.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ....convert.ctranslate2 import dequantize, read_ctranslate2_model
from ....convert.keymap import CheckpointError, KeyMap, Rule, apply_keymap
from ....errors import WeightsError

__all__ = ["CT2_TO_HF", "SPLITS", "Split", "ct2_to_hf", "hf_shapes", "split_fused", "write_hf_folder"]


@dataclass(frozen=True)
class Split:
    """A fused tensor fully matching `pattern` is cut along `axis` into equal `parts` (regex templates)."""

    pattern: str
    parts: tuple[str, ...]
    axis: int = 0


_L = r"(encoder|decoder)/layer_(\d+)"
SPLITS: list[Split] = [
    Split(_L + r"/self_attention/linear_0/(weight|bias)",
          (r"\1/layer_\2/self_attention/q_proj/\3", r"\1/layer_\2/self_attention/k_proj/\3",
           r"\1/layer_\2/self_attention/v_proj/\3")),
    Split(r"decoder/layer_(\d+)/attention/linear_1/(weight|bias)",
          (r"decoder/layer_\1/attention/k_proj/\2", r"decoder/layer_\1/attention/v_proj/\2")),
]

_HL = r"model.\1.layers.\2"
CT2_TO_HF = KeyMap(
    name="whisper/ctranslate2",
    rules=[
        Rule(r"encoder/(conv[12])/(weight|bias)", r"model.encoder.\1.\2"),  # (out, in, k) as in PyTorch
        Rule(r"(encoder|decoder)/position_encodings/encodings", r"model.\1.embed_positions.weight"),
        Rule(r"decoder/embeddings/weight", r"model.decoder.embed_tokens.weight"),
        Rule(r"decoder/projection/weight", r"proj_out.weight"),  # an alias of decoder/embeddings/weight
        Rule(r"(encoder|decoder)/layer_norm/gamma", r"model.\1.layer_norm.weight"),
        Rule(r"(encoder|decoder)/layer_norm/beta", r"model.\1.layer_norm.bias"),
        Rule(_L + r"/self_attention/k_proj/bias", None),
        Rule(_L + r"/self_attention/([qkv]_proj)/(weight|bias)", _HL + r".self_attn.\3.\4"),
        Rule(_L + r"/self_attention/linear_1/(weight|bias)", _HL + r".self_attn.out_proj.\3"),
        Rule(_L + r"/self_attention/layer_norm/gamma", _HL + r".self_attn_layer_norm.weight"),
        Rule(_L + r"/self_attention/layer_norm/beta", _HL + r".self_attn_layer_norm.bias"),
        Rule(_L + r"/attention/k_proj/bias", None),
        Rule(_L + r"/attention/linear_0/(weight|bias)", _HL + r".encoder_attn.q_proj.\3"),
        Rule(_L + r"/attention/([kv]_proj)/(weight|bias)", _HL + r".encoder_attn.\3.\4"),
        Rule(_L + r"/attention/linear_2/(weight|bias)", _HL + r".encoder_attn.out_proj.\3"),
        Rule(_L + r"/attention/layer_norm/gamma", _HL + r".encoder_attn_layer_norm.weight"),
        Rule(_L + r"/attention/layer_norm/beta", _HL + r".encoder_attn_layer_norm.bias"),
        Rule(_L + r"/ffn/linear_0/(weight|bias)", _HL + r".fc1.\3"),
        Rule(_L + r"/ffn/linear_1/(weight|bias)", _HL + r".fc2.\3"),
        Rule(_L + r"/ffn/layer_norm/gamma", _HL + r".final_layer_norm.weight"),
        Rule(_L + r"/ffn/layer_norm/beta", _HL + r".final_layer_norm.bias"),
        # Scalar flags of the spec: read by `_hf_config` (FLAGS), no tensor in HF.
        Rule(r"(encoder|decoder)/(num_heads|activation|alibi|alignment_heads|alignment_layer|pre_norm"
             r"|scale_embeddings|start_from_zero_embedding)", None),
    ],
)

# CT2 flags whose other values would need a model HF Whisper is not: name -> the only value supported.
FLAGS = {"decoder/pre_norm": 1, "decoder/alibi": 0, "decoder/activation": 3,
         "decoder/start_from_zero_embedding": 0}
ACTIVATIONS = {3: "gelu"}  # ctranslate2 ActivationType ids


def split_fused(state: dict[str, np.ndarray], splits: list[Split] = SPLITS) -> dict[str, np.ndarray]:
    """Replace every fused tensor matched by `splits` by its equal parts; other entries pass through."""
    out: dict[str, np.ndarray] = {}
    for name, value in state.items():
        rule = next((s for s in splits if re.fullmatch(s.pattern, name)), None)
        if rule is None:
            out[name] = value
            continue
        n = len(rule.parts)
        if value.shape[rule.axis] % n:
            raise WeightsError(f"{name}: axis {rule.axis} of shape {value.shape} does not split into {n} parts")
        match = re.fullmatch(rule.pattern, name)
        for template, part in zip(rule.parts, np.split(value, n, axis=rule.axis)):
            out[match.expand(template)] = part
    return out


def hf_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    """The state-dict names and shapes of `WhisperForConditionalGeneration` for an HF config dict."""
    d, shapes = cfg["d_model"], {}
    shapes["model.encoder.conv1.weight"] = (d, cfg["num_mel_bins"], 3)
    shapes["model.encoder.conv2.weight"] = (d, d, 3)
    shapes["model.encoder.conv1.bias"] = shapes["model.encoder.conv2.bias"] = (d,)
    shapes["model.encoder.embed_positions.weight"] = (cfg["max_source_positions"], d)
    shapes["model.decoder.embed_positions.weight"] = (cfg["max_target_positions"], d)
    shapes["model.decoder.embed_tokens.weight"] = shapes["proj_out.weight"] = (cfg["vocab_size"], d)
    for side in ("encoder", "decoder"):
        ffn = cfg[f"{side}_ffn_dim"]
        shapes[f"model.{side}.layer_norm.weight"] = shapes[f"model.{side}.layer_norm.bias"] = (d,)
        attns = ("self_attn", "encoder_attn") if side == "decoder" else ("self_attn",)
        for i in range(cfg[f"{side}_layers"]):
            p = f"model.{side}.layers.{i}"
            for a in attns:
                for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                    shapes[f"{p}.{a}.{proj}.weight"] = (d, d)
                    if proj != "k_proj":
                        shapes[f"{p}.{a}.{proj}.bias"] = (d,)
            for norm in (*(f"{a}_layer_norm" for a in attns), "final_layer_norm"):
                shapes[f"{p}.{norm}.weight"] = shapes[f"{p}.{norm}.bias"] = (d,)
            shapes[f"{p}.fc1.weight"], shapes[f"{p}.fc1.bias"] = (ffn, d), (ffn,)
            shapes[f"{p}.fc2.weight"], shapes[f"{p}.fc2.bias"] = (d, ffn), (d,)
    return shapes


def _special_ids(tokenizer: dict) -> dict[str, int]:
    return {t["content"]: t["id"] for t in tokenizer.get("added_tokens", [])}


def _hf_config(var: dict[str, np.ndarray], ct2_cfg: dict, tokenizer: dict) -> dict:
    """An HF WhisperConfig dict: sizes from the tensors, flags checked, token ids from tokenizer.json."""
    for name, want in FLAGS.items():
        if name in var and int(var[name]) != want:
            raise WeightsError(f"CTranslate2 flag {name}={int(var[name])}; only {want} maps onto HF Whisper")
    ids = _special_ids(tokenizer)
    vocab, d = var["decoder/embeddings/weight"].shape
    n_layers = {s: len({m.group(1) for k in var if (m := re.match(rf"{s}/layer_(\d+)/", k))})
                for s in ("encoder", "decoder")}
    is_multilingual = vocab >= 51865
    langs = [i for tok, i in ids.items() if re.fullmatch(r"<\|[a-z]{2,3}(_[a-z]+)?\|>", tok)]
    return {
        "model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"],
        "activation_function": ACTIVATIONS[int(var.get("decoder/activation", 3))],
        "d_model": int(d), "vocab_size": int(vocab),
        "num_mel_bins": int(var["encoder/conv1/weight"].shape[1]),
        "encoder_layers": n_layers["encoder"], "decoder_layers": n_layers["decoder"],
        "num_hidden_layers": n_layers["encoder"],
        "encoder_attention_heads": int(var["encoder/num_heads"]),
        "decoder_attention_heads": int(var["decoder/num_heads"]),
        "encoder_ffn_dim": int(var["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "decoder_ffn_dim": int(var["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "max_source_positions": int(var["encoder/position_encodings/encodings"].shape[0]),
        "max_target_positions": int(var["decoder/position_encodings/encodings"].shape[0]),
        "scale_embedding": bool(int(var.get("decoder/scale_embeddings", 0))),
        "dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0,
        "encoder_layerdrop": 0.0, "decoder_layerdrop": 0.0, "init_std": 0.02,
        "is_encoder_decoder": True, "use_cache": True, "tie_word_embeddings": True, "dtype": "float32",
        "bos_token_id": ids["<|startoftranscript|>"], "decoder_start_token_id": ids["<|startoftranscript|>"],
        "eos_token_id": ids["<|endoftext|>"], "pad_token_id": ids["<|endoftext|>"],
        "suppress_tokens": list(ct2_cfg.get("suppress_ids", [])),
        "begin_suppress_tokens": list(ct2_cfg.get("suppress_ids_begin", [])),
        "alignment_heads": ct2_cfg.get("alignment_heads"),
        "is_multilingual": is_multilingual,
        "lang_ids": langs,  # from tokenizer.json: ct2_cfg["lang_ids"] of old .en conversions skips <|en|>
        "no_timestamps_token_id": ids["<|notimestamps|>"],
    }


def ct2_to_hf(folder: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """(HF-named float32 state dict, HF config dict) of a CTranslate2 Whisper folder, strictly checked."""
    folder = Path(folder)
    model = read_ctranslate2_model(folder / "model.bin")
    if model.spec_name != "WhisperSpec":
        raise WeightsError(f"{model.path}: spec {model.spec_name!r}, expected 'WhisperSpec'")
    var = dequantize(model.resolved())
    ct2_cfg = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
    try:
        cfg = _hf_config(var, ct2_cfg, json.loads((folder / "tokenizer.json").read_text(encoding="utf-8")))
    except KeyError as e:  # a variable the sizes are read from is missing (renamed or dropped)
        raise CheckpointError(str(model.path), [str(e.args[0])], [], []) from None
    state = apply_keymap(split_fused(var), CT2_TO_HF, expected=hf_shapes(cfg), source=str(model.path))
    ints = [k for k, v in state.items() if not np.issubdtype(v.dtype, np.floating)]
    if ints:  # an integer weight with no `_scale` to dequantize it: a corrupt dtype, not a quantized model
        raise WeightsError(f"{model.path}: tensor {ints[0]} is {state[ints[0]].dtype}, the model expects floating "
                           f"point (and there is no scale to dequantize it); the file is corrupt")
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}, cfg


def _generation_config(cfg: dict, tokenizer: dict) -> dict:
    """generation_config.json as in openai/whisper-* (forced ids, suppression, timestamps, alignment)."""
    ids = _special_ids(tokenizer)
    gen = {
        "alignment_heads": cfg["alignment_heads"], "begin_suppress_tokens": cfg["begin_suppress_tokens"],
        "bos_token_id": cfg["bos_token_id"], "decoder_start_token_id": cfg["decoder_start_token_id"],
        "eos_token_id": cfg["eos_token_id"], "pad_token_id": cfg["pad_token_id"],
        "is_multilingual": cfg["is_multilingual"], "max_initial_timestamp_index": 50,
        "max_length": cfg["max_target_positions"], "no_timestamps_token_id": cfg["no_timestamps_token_id"],
        "prev_sot_token_id": ids["<|startofprev|>"], "return_timestamps": False,
        "suppress_tokens": cfg["suppress_tokens"],
    }
    if cfg["is_multilingual"]:
        gen["forced_decoder_ids"] = [[1, None], [2, ids["<|transcribe|>"]]]
        gen["lang_to_id"] = {tok: i for tok, i in ids.items() if i in set(cfg["lang_ids"])}
        gen["task_to_id"] = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
    else:
        gen["forced_decoder_ids"] = [[1, cfg["no_timestamps_token_id"]]]
    return gen


def write_hf_folder(ct2_folder: str | Path, out_folder: str | Path) -> Path:
    """Write an offline-loadable HF Whisper folder (config, weights, tokenizer, generation, preprocessor)."""
    from safetensors.numpy import save_file

    ct2_folder, out = Path(ct2_folder), Path(out_folder)
    out.mkdir(parents=True, exist_ok=True)
    state, cfg = ct2_to_hf(ct2_folder)
    if np.array_equal(state["proj_out.weight"], state["model.decoder.embed_tokens.weight"]):
        state.pop("proj_out.weight")  # tied, as HF saves it
    else:
        cfg["tie_word_embeddings"] = False
    tokenizer = json.loads((ct2_folder / "tokenizer.json").read_text(encoding="utf-8"))
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(ct2_folder / "tokenizer.json", out / "tokenizer.json")
    files = {
        "config.json": cfg,
        "generation_config.json": _generation_config(cfg, tokenizer),
        "tokenizer_config.json": {
            "tokenizer_class": "WhisperTokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "model_max_length": 1024,
            "add_prefix_space": False, "errors": "replace", "processor_class": "WhisperProcessor",
        },
        "preprocessor_config.json": {
            "feature_extractor_type": "WhisperFeatureExtractor", "processor_class": "WhisperProcessor",
            "feature_size": cfg["num_mel_bins"], "sampling_rate": 16000, "hop_length": 160, "n_fft": 400,
            "chunk_length": 30, "n_samples": 480000, "nb_max_frames": 3000, "padding_side": "right",
            "padding_value": 0.0, "return_attention_mask": False,
        },
    }
    for name, data in files.items():
        (out / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return out
