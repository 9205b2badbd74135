"""The bad-input catalogue: each case runs the CLI in-process on one bad input (audio, checkpoint, config,
codes, text, argument, output) and asserts exit code 2, an `error:` line naming the problem, no traceback,
and no output file (nor a temporary one) left behind."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from kit import copy_model, ct2_first_variable, edit_config, edit_safetensors, first_float, run_cli, tone

import mlx_audio_lab
from mlx_audio_lab.fixtures import build
from mlx_audio_lab.hub import resolve


@pytest.fixture(scope="module")
def a(tmp_path_factory) -> SimpleNamespace:
    """Good inputs the cases spoil: fixture folders, clips, and codes sized to each codec."""
    tmp = tmp_path_factory.mktemp("assets")
    ns = SimpleNamespace(tmp=tmp, wav=tone(tmp / "a.wav"), wav16=tone(tmp / "b.wav", 16_000))
    for name, (model_type, size) in {"enc": ("encodec", "tiny"), "enc48": ("encodec", "48khz"),
                                     "snac": ("snac", "tiny"),
                                     "dac": ("dac", "tiny"), "mimi": ("mimi", "tiny"), "voc": ("vocos", "encodec"),
                                     "whisper": ("whisper", "tiny"), "kokoro": ("kokoro", "tiny"),
                                     "w2v": ("wav2vec2", "tiny"), "indextts": ("indextts", "tiny")}.items():
        setattr(ns, name, build(model_type, size))
    rng = np.random.default_rng(0)
    for name in ("enc", "dac", "mimi", "voc"):
        cfg = mlx_audio_lab.load(getattr(ns, name)).config
        cfg = getattr(cfg, "feature_extractor", cfg)
        size, n_q = cfg.codebook_size, getattr(cfg, "num_quantizers", None) or cfg.n_codebooks
        setattr(ns, f"{name}_book", (size, n_q))
        setattr(ns, f"{name}_codes", rng.integers(0, size, (2 if name == "enc" else n_q, 20)).astype(np.int64))
    snac = mlx_audio_lab.load(ns.snac)
    ns.snac_strides, ns.snac_book = snac.config.vq_strides, snac.config.codebook_size
    ns.snac_codes = [rng.integers(0, ns.snac_book, 16 // s).astype(np.int64) for s in ns.snac_strides]
    return ns


def npy(tmp: Path, arr, name: str = "codes.npy") -> Path:
    np.save(tmp / name, arr, allow_pickle=True)
    return tmp / name


def npz(tmp: Path, name: str = "codes.npz", *arrays, **named) -> Path:
    np.savez(tmp / name, *arrays, **named)
    return tmp / name


def with_code(codes: np.ndarray, at: tuple, value: int) -> np.ndarray:
    out = codes.copy()
    out[at] = value
    return out


def raw(tmp: Path, name: str, data: bytes) -> Path:
    (tmp / name).write_bytes(data)
    return tmp / name


def wav_with(tmp: Path, value: float) -> Path:
    x = np.zeros(16_000, np.float32)
    x[100] = value
    sf.write(str(tmp / "bad.wav"), x, 16_000, subtype="FLOAT")
    return tmp / "bad.wav"


def without(folder: Path, name: str) -> Path:
    (folder / name).unlink()
    return folder


def model_copy(a, tmp: Path, name: str) -> Path:
    return copy_model(getattr(a, name), tmp / f"{name}-copy")


def ct2_copy(tmp: Path, edit: Callable[[bytearray], bytes]) -> Path:
    """bundled whisper-tiny.en with an edited model.bin (side files linked, the big file rewritten)."""
    src, dst = resolve("whisper-tiny.en"), tmp / "tiny-copy"
    dst.mkdir()
    for f in src.iterdir():
        if f.name != "model.bin":
            (dst / f.name).symlink_to(f)
    (dst / "model.bin").write_bytes(edit(bytearray((src / "model.bin").read_bytes())))
    return dst


def flip_dtype(data: bytearray) -> bytes:
    _, at = ct2_first_variable(bytes(data))
    data[at] = 2  # float16 -> int16: the same byte count, integers where floats belong
    return bytes(data)


def rename_first(data: bytearray) -> bytes:
    at, _ = ct2_first_variable(bytes(data), skip=1)  # the first is an alias target: its alias would fail first
    data[at] = ord("X")
    return bytes(data)


def huge_flac(tmp: Path) -> Path:
    """A valid FLAC whose STREAMINFO claims 8.6e9 frames (36 bits: the most a header can say)."""
    sf.write(str(tmp / "ok.flac"), np.zeros(4000, np.float32), 16_000, subtype="PCM_16")
    data = bytearray((tmp / "ok.flac").read_bytes())
    at = 8 + 10  # "fLaC", block header (4), then min/max block (4), min/max frame (6): the 8 bytes with the total
    packed = int.from_bytes(data[at:at + 8], "big")
    packed = (packed & ~((1 << 36) - 1)) | ((1 << 33) + 1)
    data[at:at + 8] = packed.to_bytes(8, "big")
    return raw(tmp, "huge.flac", bytes(data))


@dataclass
class Case:
    id: str
    argv: Callable  # (assets, tmp) -> argv
    match: str  # regex the error must contain
    out: str | None = None  # the output name that must not exist afterwards


T = lambda m: ["transcribe", "--model", m]  # noqa: E731
ENC = lambda a, t, audio: ["encode", "--model", a.enc, "--out", t / "c.npy", audio]  # noqa: E731
DEC = lambda m, t, codes: ["decode", "--model", m, "--out", t / "o.wav", codes]  # noqa: E731
SPK = lambda a, t, text, *more: ["speak", "--model", a.kokoro, "--voice", "af_fixture", *more,  # noqa: E731
                                 "--out", t / "s.wav", text]

AUDIO = [
    Case("audio-missing", lambda a, t: ENC(a, t, t / "nope.wav"), "audio file not found", "c.npy"),
    Case("audio-empty-file", lambda a, t: ENC(a, t, raw(t, "e.wav", b"")), "cannot read .*e.wav", "c.npy"),
    Case("audio-text-as-wav", lambda a, t: ENC(a, t, raw(t, "x.wav", b"hello, not audio\n" * 20)), "cannot read",
         "c.npy"),
    Case("audio-random-bytes", lambda a, t: ENC(a, t, raw(t, "r.wav", np.random.default_rng(1).bytes(4000))),
         "cannot read", "c.npy"),
    Case("audio-directory", lambda a, t: ENC(a, t, t), "directory, not a file", "c.npy"),
    Case("audio-nan", lambda a, t: ENC(a, t, wav_with(t, np.nan)), "non-finite samples", "c.npy"),
    Case("audio-inf", lambda a, t: ENC(a, t, wav_with(t, np.inf)), "non-finite samples", "c.npy"),
    Case("audio-header-only", lambda a, t: ENC(a, t, raw(t, "h.wav", a.wav.read_bytes()[:44])), "empty|cannot read",
         "c.npy"),
    Case("audio-truncated-header", lambda a, t: ENC(a, t, raw(t, "h.wav", a.wav.read_bytes()[:20])), "cannot read",
         "c.npy"),
    Case("audio-zero-frames", lambda a, t: ENC(a, t, (sf.write(str(t / "z.wav"), np.zeros(0, np.float32), 16000),
                                                     t / "z.wav")[1]), "empty|cannot read", "c.npy"),
    Case("audio-flac-huge-header", lambda a, t: ENC(a, t, huge_flac(t)),
         "header claims 8589934593 frames .* only .* bytes", "c.npy"),
    Case("transcribe-audio-missing", lambda a, t: [*T(a.whisper), t / "nope.wav"], "audio file not found"),
    Case("transcribe-audio-text", lambda a, t: [*T(a.whisper), raw(t, "x.wav", b"RIFF????WAVEjunk")], "cannot read"),
]

CODES = [
    Case("codes-equal-codebook-size", lambda a, t: DEC(a.enc, t, npy(t, with_code(a.enc_codes, (1, 5), a.enc_book[0]))),
         r"codebook 1, frame 5: code 64 is outside 0\.\.63", "o.wav"),
    Case("codes-million", lambda a, t: DEC(a.enc, t, npy(t, with_code(a.enc_codes, (0, 0), 1_000_000))),
         r"codebook 0, frame 0: code 1000000 is outside", "o.wav"),
    Case("codes-negative", lambda a, t: DEC(a.enc, t, npy(t, with_code(a.enc_codes, (0, 3), -1))),
         r"frame 3: code -1 is outside", "o.wav"),
    Case("codes-transposed", lambda a, t: DEC(a.enc, t, npy(t, a.enc_codes.T.copy())), "transposed", "o.wav"),
    Case("codes-too-many-codebooks", lambda a, t: DEC(a.enc, t, npy(t, np.zeros((9, 20), np.int64))),
         "9 codebooks; this codec takes 1..4", "o.wav"),
    Case("codes-float", lambda a, t: DEC(a.enc, t, npy(t, a.enc_codes.astype(np.float32))), "float32 values", "o.wav"),
    Case("codes-1d", lambda a, t: DEC(a.enc, t, npy(t, a.enc_codes[0])), r"shape \(20,\); expected", "o.wav"),
    Case("codes-3d", lambda a, t: DEC(a.enc, t, npy(t, a.enc_codes[None])), r"expected \(codebooks, frames\)", "o.wav"),
    Case("codes-no-frames", lambda a, t: DEC(a.enc, t, npy(t, np.zeros((2, 0), np.int64))), "no frames", "o.wav"),
    Case("codes-missing-file", lambda a, t: DEC(a.enc, t, t / "nope.npy"), "codes file not found", "o.wav"),
    Case("codes-truncated-npy", lambda a, t: DEC(a.enc, t, raw(t, "c.npy", npy(t, a.enc_codes).read_bytes()[:-40])),
         "truncated or corrupt", "o.wav"),
    Case("codes-text-file", lambda a, t: DEC(a.enc, t, raw(t, "c.npy", b"1 2 3\n")), "cannot read codes", "o.wav"),
    Case("codes-pickled-objects", lambda a, t: DEC(a.enc, t, npy(t, np.array([{"x": 1}], dtype=object))),
         "Python objects", "o.wav"),
    Case("codes-npz-wrong-names", lambda a, t: DEC(a.snac, t, npz(t, "c.npz", foo=a.snac_codes[0])),
         r"expected \['arr_0'\]", "o.wav"),
    Case("codes-npz-corrupt", lambda a, t: DEC(a.snac, t, raw(t, "c.npz", b"PK\x03\x04" + b"\0" * 40)),
         "cannot read codes", "o.wav"),
    Case("snac-wrong-scale-count", lambda a, t: DEC(a.snac, t, npz(t, "c.npz", *a.snac_codes, a.snac_codes[-1])),
         "4 scales; this codec has 3", "o.wav"),
    Case("snac-inconsistent-frames",
         lambda a, t: DEC(a.snac, t, npz(t, "c.npz", a.snac_codes[0][:1], *a.snac_codes[1:])),
         "scale 1 has .* frames", "o.wav"),
    Case("snac-code-out-of-range", lambda a, t: DEC(a.snac, t, npz(t, "c.npz", *a.snac_codes[:2],
                                                                   with_code(a.snac_codes[2], (7,), a.snac_book))),
         r"scale 2, frame 7: code 64 is outside 0\.\.63", "o.wav"),
    Case("snac-grid-float", lambda a, t: DEC(a.snac, t, npy(t, np.zeros((7, 4), np.float32))), "float32 values",
         "o.wav"),
    Case("snac-grid-wrong-rows", lambda a, t: DEC(a.snac, t, npy(t, np.zeros((5, 16), np.int64))),
         r"reads a \(7 rows, frames\) integer grid", "o.wav"),
    Case("snac-grid-out-of-range", lambda a, t: DEC(a.snac, t, npy(t, np.full((7, 4), 64, np.int64))),
         r"scale 0, frame 0: code 64 is outside 0\.\.63", "o.wav"),
    Case("dac-code-out-of-range", lambda a, t: DEC(a.dac, t, npy(t, with_code(a.dac_codes, (3, 2), a.dac_book[0]))),
         r"codebook 3, frame 2: code 64", "o.wav"),
    Case("dac-too-many-codebooks", lambda a, t: DEC(a.dac, t, npy(t, np.zeros((a.dac_book[1] + 1, 5), np.int64))),
         "codebooks; this codec takes", "o.wav"),
    Case("mimi-code-out-of-range", lambda a, t: DEC(a.mimi, t, npy(t, with_code(a.mimi_codes, (1, 4), 10**6))),
         r"codebook 1, frame 4: code 1000000", "o.wav"),
    Case("mimi-negative", lambda a, t: DEC(a.mimi, t, npy(t, with_code(a.mimi_codes, (0, 0), -5))), "code -5", "o.wav"),
    Case("vocos-code-out-of-range", lambda a, t: DEC(a.voc, t, npy(t, with_code(a.voc_codes, (0, 9), a.voc_book[0]))),
         r"codebook 0, frame 9", "o.wav"),
    Case("vocos-codebooks-no-bandwidth", lambda a, t: DEC(a.voc, t, npy(t, a.voc_codes[:3])),
         "match none of the bandwidths", "o.wav"),
    Case("encodec48-plain-array", lambda a, t: DEC(a.enc48, t, npy(t, a.enc_codes)), "EncodecChunks", "o.wav"),
    Case("encodec48-nan-scales", lambda a, t: DEC(a.enc48, t, npz(t, "c.npz", codes=a.enc_codes[None],
                                                                  scales=np.array([np.nan], np.float32))),
         "scales must be finite", "o.wav"),
    Case("encodec48-bad-padding", lambda a, t: DEC(a.enc48, t, npz(t, "c.npz", codes=a.enc_codes[None],
                                                                   padding=np.array(99))), "padding 99", "o.wav"),
]

ENCM = lambda m, a, t: ["encode", "--model", m, "--out", t / "c.npy", a.wav]  # noqa: E731


def spoil(fn: Callable) -> Callable:
    """A case on a copy of the EnCodec fixture whose weights `fn(state) -> state` rewrites."""
    return lambda a, t: ENCM(edit_safetensors(model_copy(a, t, "enc"), fn), a, t)


def setting(**changes) -> Callable:
    """A case on a copy of the EnCodec fixture with `config.json` fields changed."""
    return lambda a, t: ENCM(edit_config(model_copy(a, t, "enc"), **changes), a, t)


def _set(state: dict, value: float | None = None, dtype=None, drop: bool = False, extra: bool = False,
         shape: bool = False) -> dict:
    k = first_float(state)
    if drop:
        del state[k]
    elif extra:
        state["extra.weight"] = np.zeros(3, np.float32)
    elif shape:
        state[k] = state[k][:-1]
    elif dtype is not None:
        state[k] = np.ones(state[k].shape, dtype)
    else:
        state[k] = np.full(state[k].shape, value, np.float32)
    return state


def weights_file(a, t, data: bytes | None) -> list:
    m = model_copy(a, t, "enc")
    if data is None:
        (m / "model.safetensors").unlink()
    else:
        (m / "model.safetensors").write_bytes(data(m) if callable(data) else data)
    return ENCM(m, a, t)


def torch_pickle(m: Path) -> bytes:
    import torch

    torch.save({"x": torch.zeros(2)}, m / "p.bin")
    return (m / "p.bin").read_bytes()


CHECKPOINTS = [
    Case("weights-truncated", lambda a, t: weights_file(a, t, lambda m: (m / "model.safetensors").read_bytes()[:5000]),
         "not a readable safetensors", "c.npy"),
    Case("weights-empty", lambda a, t: weights_file(a, t, b""), "safetensors|weight file", "c.npy"),
    Case("weights-random-bytes", lambda a, t: weights_file(a, t, np.random.default_rng(2).bytes(3000)),
         "safetensors|weight", "c.npy"),
    Case("weights-missing-file", lambda a, t: weights_file(a, t, None), "no weight file", "c.npy"),
    Case("weights-pickle-as-safetensors", lambda a, t: weights_file(a, t, torch_pickle), "refusing to unpickle",
         "c.npy"),
    Case("weights-int64-where-float", spoil(lambda s: _set(s, dtype=np.int64)), "is int64, the model expects floating",
         "c.npy"),
    Case("weights-all-nan", spoil(lambda s: _set(s, np.nan)), "NaN / inf", "c.npy"),
    Case("weights-one-inf", spoil(lambda s: {**s, first_float(s): np.where(np.arange(s[first_float(s)].size)
                                                                            .reshape(s[first_float(s)].shape) == 3,
                                                                            np.inf, s[first_float(s)])
                                              .astype(np.float32)}), "1 NaN / inf", "c.npy"),
    Case("weights-missing-key", spoil(lambda s: _set(s, drop=True)), r"missing \(1\)", "c.npy"),
    Case("weights-unexpected-key", spoil(lambda s: _set(s, extra=True)), "unexpected", "c.npy"),
    Case("weights-misshaped", spoil(lambda s: _set(s, shape=True)), "mis-shaped", "c.npy"),
    Case("ct2-truncated", lambda a, t: [*T(ct2_copy(t, lambda d: bytes(d[:100_000]))), a.wav16], "truncated at byte"),
    Case("ct2-empty", lambda a, t: [*T(ct2_copy(t, lambda d: b"")), a.wav16], "truncated at byte 0"),
    Case("ct2-bad-version", lambda a, t: [*T(ct2_copy(t, lambda d: struct.pack("<I", 99) + bytes(d[4:]))), a.wav16],
         "binary version 99"),
    Case("ct2-dtype-flipped-to-int16", lambda a, t: [*T(ct2_copy(t, flip_dtype)), a.wav16],
         "int16, the model expects floating"),
    Case("ct2-renamed-variable", lambda a, t: [*T(ct2_copy(t, rename_first)), a.wav16], "missing|unexpected"),
]

CONFIGS = [
    Case("config-list", lambda a, t: ENCM(raw(model_copy(a, t, "enc"), "config.json", b"[1, 2]").parent, a, t),
         "JSON list, not an object", "c.npy"),
    Case("config-invalid-json", lambda a, t: ENCM(raw(model_copy(a, t, "enc"), "config.json", b"{bad").parent, a, t),
         "not valid JSON", "c.npy"),
    Case("config-not-utf8", lambda a, t: ENCM(raw(model_copy(a, t, "enc"), "config.json", b"\xff\xfe{").parent, a, t),
         "not valid JSON", "c.npy"),
    Case("config-negative-dimension", setting(hidden_size=-4), "hidden_size is -4", "c.npy"),
    Case("config-zero-dimension", setting(num_filters=0), "num_filters is 0", "c.npy"),
    Case("config-string-dimension", setting(num_filters="four"), "num_filters is 'four'", "c.npy"),
    Case("config-huge-dimension", setting(hidden_size=10**12), "larger than any layer", "c.npy"),
    Case("config-nan", setting(upsampling_ratios=[8, 5, float("nan"), 2]), "expected a number|finite", "c.npy"),
    Case("config-unknown-model-type", setting(model_type="wavenet"), "unknown model_type 'wavenet'", "c.npy"),
    Case("config-no-model-type", setting(model_type=...), "no 'model_type'", "c.npy"),
    Case("config-missing", lambda a, t: ENCM(without(model_copy(a, t, "enc"), "config.json"), a, t), "no config.json",
         "c.npy"),
    Case("model-is-a-file", lambda a, t: ENCM(a.wav, a, t), "is a file; pass the model folder", "c.npy"),
    Case("model-unknown-name", lambda a, t: ENCM("no-such-model", a, t), "neither a folder", "c.npy"),
]

ARGUMENTS = [
    *[Case(f"beam-size-{b}", lambda a, t, b=b: [*T(a.whisper), "--beam-size", b, a.wav16], "beam size")
      for b in ("0", "-1", "500", "abc")],
    Case("language-on-english-only", lambda a, t: [*T("whisper-tiny.en"), "--language", "fr", a.wav16],
         "English-only Whisper cannot take language='fr'"),
    Case("language-on-wav2vec2", lambda a, t: [*T(a.w2v), "--language", "fr", a.wav16],
         "--language: .* has no such option"),
    Case("beam-size-on-wav2vec2", lambda a, t: [*T(a.w2v), "--beam-size", "5", a.wav16],
         "--beam-size: .* has no such option"),
    Case("prefix-on-wav2vec2", lambda a, t: [*T(a.w2v), "--prefix", "hello", a.wav16], "--prefix: .* has no such"),
    Case("temperature-negative", lambda a, t: [*T(a.whisper), "--temperature", "0", "-0.2", a.wav16], "must be >= 0"),
    Case("no-speech-threshold-alone", lambda a, t: [*T(a.whisper), "--no-speech-threshold", "0.6", a.wav16],
         "needs --logprob-threshold"),
    Case("no-speech-threshold-above-one", lambda a, t: [*T(a.whisper), "--no-speech-threshold", "2", a.wav16],
         r"probability in \[0, 1\]"),
    Case("logprob-threshold-nan", lambda a, t: [*T(a.whisper), "--logprob-threshold", "nan", a.wav16], "finite"),
    Case("translate-on-english-only", lambda a, t: [*T("whisper-tiny.en"), "--task", "translate", a.wav16],
         "English-only Whisper cannot take"),
    Case("bandwidth-not-the-models", lambda a, t: ["encode", "--model", a.enc, "--bandwidth", "99", "--out",
                                                   t / "c.npy", a.wav], r"bandwidths are \[0.9, 1.8\]", "c.npy"),
    Case("bandwidth-negative", lambda a, t: ["encode", "--model", a.enc, "--bandwidth", "-1", "--out",
                                             t / "c.npy", a.wav], "finite number > 0", "c.npy"),
    Case("bandwidth-on-dac", lambda a, t: ["encode", "--model", a.dac, "--bandwidth", "6", "--out", t / "c.npy", a.wav],
         "no bandwidth choice", "c.npy"),
    *[Case(f"speed-{s}", lambda a, t, s=s: SPK(a, t, "hello", "--speed", s), "finite number > 0", "s.wav")
      for s in ("0", "-1", "nan", "inf")],
    Case("transcribe-with-a-codec", lambda a, t: [*T(a.enc), a.wav], "not a speech-recognition model"),
    Case("encode-with-whisper", lambda a, t: ENCM(a.whisper, a, t), "not a codec", "c.npy"),
    Case("decode-with-whisper", lambda a, t: DEC(a.whisper, t, npy(t, a.enc_codes)), "not a codec", "o.wav"),
    Case("speak-with-indextts-without-voice", lambda a, t: ["speak", "--model", a.indextts, "--out", t / "s.wav", "hi"],
         "no built-in voice", "s.wav"),
    Case("speak-with-indextts-digits", lambda a, t: ["speak", "--model", a.indextts, "--voice", a.wav, "--out",
                                                     t / "s.wav", "room 101"], "spell it out", "s.wav"),
    Case("speak-with-a-codec", lambda a, t: ["speak", "--model", a.enc, "--out", t / "s.wav", "hi"],
         "not a text-to-speech model", "s.wav"),
    Case("unknown-command", lambda a, t: ["frobnicate"], "invalid choice"),
    Case("missing-required", lambda a, t: ["encode", a.wav], "required"),
]

TEXT = [
    Case("text-empty", lambda a, t: SPK(a, t, ""), "empty text", "s.wav"),
    Case("text-whitespace", lambda a, t: SPK(a, t, "   \n\t "), "empty text|no speakable", "s.wav"),
    Case("text-control-chars", lambda a, t: SPK(a, t, "\x00\x01\x02"), "no speakable|empty|nothing", "s.wav"),
    Case("voice-unknown", lambda a, t: ["speak", "--model", a.kokoro, "--voice", "zz_nobody", "--out", t / "s.wav",
                                        "hello"], "unknown voice 'zz_nobody'", "s.wav"),
    Case("voice-blend-zero-weights", lambda a, t: ["speak", "--model", a.kokoro, "--voice",
                                                   "af_fixture:0,am_fixture:0", "--out", t / "s.wav", "hello"],
         "sum to more than 0", "s.wav"),
    Case("voice-blend-bad-weight", lambda a, t: ["speak", "--model", a.kokoro, "--voice", "af_fixture:x,am_fixture",
                                                 "--out", t / "s.wav", "hello"], "is not a number", "s.wav"),
    Case("voice-missing", lambda a, t: ["speak", "--model", a.kokoro, "--out", t / "s.wav", "hello"], "voice", "s.wav"),
]


def existing_folder(t: Path) -> Path:
    (t / "exists").mkdir()
    (t / "exists" / "keep.txt").write_text("keep")
    return t / "exists"


OUTPUTS = [
    Case("encode-out-bad-extension", lambda a, t: ["encode", "--model", a.enc, "--out", t / "c.txt", a.wav],
         r"\.npy \(one array\) or \.npz", "c.txt"),
    Case("encode-out-under-a-file", lambda a, t: ["encode", "--model", a.enc, "--out", a.wav / "c.npy", a.wav],
         "is a file, not a folder"),
    Case("encode-out-is-a-folder", lambda a, t: ["encode", "--model", a.enc, "--out",
                                                 (t / "d.npy").mkdir() or t / "d.npy",
                                                 a.wav], "is a folder"),
    Case("encode48-out-npy", lambda a, t: ["encode", "--model", a.enc48, "--out", t / "c.npy", a.wav],
         r"chunks with scales; name the output \*\.npz", "c.npy"),
    Case("decode-out-bad-extension", lambda a, t: DEC(a.enc, t, npy(t, a.enc_codes))[:4] + [t / "o.xyz",
                                                                                          t / "codes.npy"],
         r"\.xyz is not an audio format", "o.xyz"),
    Case("decode-out-under-a-file", lambda a, t: ["decode", "--model", a.enc, "--out", a.wav / "o.wav",
                                                  npy(t, a.enc_codes)], "is a file, not a folder"),
    Case("speak-out-no-extension", lambda a, t: SPK(a, t, "hello")[:-2] + [t / "noext", "hello"],
         "no extension", "noext"),
    Case("decode-out-unwritable", lambda a, t: ["decode", "--model", a.enc, "--out", "/proc/no-such/o.wav",
                                                npy(t, a.enc_codes)], "cannot write /proc/no-such/o.wav"),
    Case("convert-out-existing-file", lambda a, t: ["convert", "--model", a.enc, "--out", a.wav], "existing file"),
    Case("convert-out-nonempty-folder", lambda a, t: ["convert", "--model", a.enc, "--out", existing_folder(t)],
         "not empty"),
    Case("convert-bad-checkpoint-leaves-nothing", lambda a, t: ["convert", "--model",
                                                                edit_config(model_copy(a, t, "enc"), hidden_size=-1),
                                                                "--out", t / "conv"], "hidden_size is -1", "conv"),
]



def port_config(model_type: str, changes: dict, command: Callable) -> Callable:
    """A case on a copy of `model_type`'s fixture with config fields (dotted paths into nested blocks, in
    config.json or config.yaml) changed; `command(folder, a, t)` is the argv that loads it."""
    def argv(a, t):
        import yaml

        folder = copy_model(build(model_type), t / f"{model_type}-copy")
        path = folder / "config.json" if (folder / "config.json").is_file() else folder / "config.yaml"
        cfg = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
        for dotted, value in changes.items():
            *parents, key = dotted.split(".")
            block = cfg
            for name in parents:
                block = block[name]
            block[key] = value
        path.write_text(json.dumps(cfg) if path.suffix == ".json" else yaml.safe_dump(cfg))
        return command(folder, a, t)
    return argv


ENC_PORT = lambda f, a, t: ["encode", "--model", f, "--out", t / "c.npy", a.wav]  # noqa: E731
DEC_PORT = lambda f, a, t: ["decode", "--model", f, "--out", t / "o.wav", npy(t, np.zeros((2, 4), np.int64))]  # noqa: E731
STT_PORT = lambda f, a, t: ["transcribe", "--model", f, a.wav16]  # noqa: E731
TTS_PORT = lambda voice: lambda f, a, t: ["speak", "--model", f, *(["--voice", voice] if voice else []),  # noqa: E731
                                         "--max-frames", "4", "--out", t / "s.wav", "hi"]

# One bad config field per port family, of a type the size check by key name (above) lets through: the port's
# config dataclass (convert.validate.checked) or the Llama backbone's (mlx-lm ModelArgs) names it.
PORT_CONFIGS = [
    Case("dac-config-fractional-dim", port_config("dac", {"codebook_dim": 8.5}, ENC_PORT),
         r"codebook_dim is 8\.5 \(float\); expected an integer", "c.npy"),
    Case("snac-config-flag-as-string", port_config("snac", {"noise": "no"}, ENC_PORT),
         r"noise is 'no' \(str\); expected true or false", "c.npy"),
    Case("vocos-config-padding-number", port_config("vocos", {"head.init_args.padding": 7}, ENC_PORT),
         r"head: padding is 7 \(int\); expected a string", "c.npy"),
    Case("mimi-config-flag-as-string", port_config("mimi", {"use_conv_shortcut": "yes"}, ENC_PORT),
         r"use_conv_shortcut is 'yes' \(str\); expected true or false", "c.npy"),
    Case("mimi-config-negative-epsilon", port_config("mimi", {"norm_eps": -1e-5}, ENC_PORT),
         r"norm_eps is -1e-05; an epsilon must be > 0", "c.npy"),
    Case("bigvgan-config-flag-as-string", port_config("bigvgan", {"snake_logscale": "true"}, DEC_PORT),
         r"snake_logscale is 'true' \(str\); expected true or false", "o.wav"),
    Case("whisper-config-flag-as-string", port_config("whisper", {"scale_embedding": "no"}, STT_PORT),
         r"scale_embedding is 'no' \(str\); expected true or false"),
    Case("wav2vec2-config-epsilon-string", port_config("wav2vec2", {"layer_norm_eps": "small"}, STT_PORT),
         r"layer_norm_eps is 'small' \(str\); expected a number"),
    Case("kokoro-config-fractional-rate", port_config("kokoro", {"istftnet.upsample_rates": [10, 6.5]},
                                                      TTS_PORT("af_fixture")),
         r"istftnet: upsample_rates is \[10, 6\.5\] \(list\); expected a list of integers", "s.wav"),
    Case("orpheus-config-epsilon-string", port_config("orpheus", {"rms_norm_eps": "tiny"}, TTS_PORT("tara")),
         r"Llama backbone\): rms_norm_eps is 'tiny' \(str\); expected a number", "s.wav"),
    Case("csm-config-epsilon-string", port_config("csm", {"rms_norm_eps": "tiny"}, TTS_PORT(None)),
         r"rms_norm_eps is 'tiny' \(str\); expected a number", "s.wav"),
    Case("csm-config-token-id-string", port_config("csm", {"codebook_pad_token_id": "pad"}, TTS_PORT(None)),
         r"codebook_pad_token_id is 'pad' \(str\); expected an integer", "s.wav"),
    Case("outetts-config-flag-as-string", port_config("outetts", {"attention_bias": "no"}, TTS_PORT(None)),
         r"attention_bias is 'no' \(str\); expected true or false", "s.wav"),
    Case("s3-tokenizer-config-width-string", port_config("s3_tokenizer", {"n_audio_state": "wide"}, ENC_PORT),
         r"n_audio_state is 'wide' \(str\); expected (a number|an integer)", "c.npy"),
    Case("bark-config-fractional-layers", port_config("bark", {"semantic_config.num_layers": 1.5}, TTS_PORT(None)),
         r"num_layers is 1\.5 \(float\); expected an integer", "s.wav"),
    Case("indextts-config-blocks-string", port_config("indextts", {"gpt.condition_module.num_blocks": "six"},
                                                      TTS_PORT(None)),
         r"num_blocks is 'six' \(str\); expected (a number|an integer)", "s.wav"),
    Case("silero-config-fractional-rate", port_config("silero_vad", {"sample_rates": [16000.5]},
                                                      lambda f, a, t: ["vad", "--model", f, a.wav16]),
         r"sample_rates is \[16000\.5\]; expected a list of integers"),
]

CASES = AUDIO + CODES + CHECKPOINTS + CONFIGS + ARGUMENTS + TEXT + OUTPUTS + PORT_CONFIGS


def test_catalogue_is_large_and_unique():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_clear_error(case: Case, a: SimpleNamespace, tmp_path: Path):
    """Exit 2, `error: ...` naming the problem, no traceback, and nothing (not even a temporary) written."""
    r = run_cli(*case.argv(a, tmp_path))
    assert r.code == 2, (r.code, r.err[-2000:])
    assert "Traceback" not in r.err and "this is a bug" not in r.err, r.err[-2000:]
    assert re.search(r"(^|\n)(error: |mlx-audio-lab.*: error: )", r.err), r.err
    assert re.search(case.match, r.err), (case.match, r.err)
    if case.out:
        assert not (tmp_path / case.out).exists()
    assert not [p for p in tmp_path.rglob(".*") if ".tmp" in p.name], "a temporary output was left behind"


def test_transcribe_reports_each_file_and_keeps_the_good_ones(a: SimpleNamespace, tmp_path: Path):
    """`transcribe good.wav bad.wav good.wav`: both good results printed, the bad one named, exit 2 at the end."""
    r = run_cli(*T(a.w2v), "--json", a.wav16, tmp_path / "nope.wav", a.wav16)
    assert r.code == 2 and "Traceback" not in r.err
    assert "audio file not found" in r.err and "1 of 3 files failed" in r.err
    rows = json.loads(r.out)
    assert [row["file"] for row in rows] == [str(a.wav16)] * 2
    assert rows[0]["text"] == rows[1]["text"] and rows[0]["tokens"]
    alone = run_cli(*T(a.w2v), "--json", tmp_path / "nope.wav")  # a single bad file: the error, no JSON
    assert alone.code == 2 and alone.out == "" and "audio file not found" in alone.err


def test_a_bug_shows_its_traceback_and_says_so(monkeypatch):
    """Only an unexpected exception shows a traceback, with a line calling it a bug, and exit code 3."""
    from mlx_audio_lab import cli

    def broken(args):
        raise ZeroDivisionError("deliberate")

    monkeypatch.setattr(cli, "cmd_models", broken)
    r = run_cli("models")
    assert r.code == 3 and "Traceback" in r.err and "ZeroDivisionError: deliberate" in r.err
    assert "this is a bug in mlx-audio-lab" in r.err


def test_out_of_range_code_in_a_fresh_process(a: SimpleNamespace, tmp_path: Path):
    """As a user runs it (a subprocess): a code of 1,000,000 once crashed the process (exit 139); now exit 2."""
    import subprocess
    import sys

    codes = npy(tmp_path, with_code(a.enc_codes, (0, 0), 1_000_000))
    p = subprocess.run([sys.executable, "-m", "mlx_audio_lab", "decode", "--model", str(a.enc), "--out",
                        str(tmp_path / "o.wav"), str(codes)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert "codebook 0, frame 0: code 1000000 is outside 0..63" in p.stderr
    assert not (tmp_path / "o.wav").exists()


def test_encode_writes_exactly_the_path_given_and_decode_reads_it(a: SimpleNamespace, tmp_path: Path):
    """SNAC's multi-scale codes: `--out x.npy` is x.npy (the `frames.to_grid` grid), `--out x.npz` is x.npz (one
    array per scale); both decode to the same audio; a missing output folder is created, as decode and speak do."""
    from mlx_audio_lab.models.codecs.snac.frames import from_grid

    npy_out, npz_out = tmp_path / "new" / "x.npy", tmp_path / "x.npz"
    assert run_cli("encode", "--model", a.snac, "--out", npy_out, a.wav).code == 0
    assert run_cli("encode", "--model", a.snac, "--out", npz_out, a.wav).code == 0
    assert sorted(p.name for p in tmp_path.rglob("x.*")) == ["x.npy", "x.npz"]
    grid, scales = np.load(npy_out), np.load(npz_out)
    per_scale = [scales[f"arr_{k}"] for k in range(len(a.snac_strides))]
    assert grid.shape == (7, len(per_scale[0])) and len(np.unique(grid)) > 5
    for got, want in zip(from_grid(grid, a.snac_strides), per_scale):
        np.testing.assert_array_equal(got, want)
    model = mlx_audio_lab.load(a.snac)
    np.testing.assert_array_equal(model.decode(grid, seed=0), model.decode(per_scale, seed=0))
    for src in (npy_out, npz_out):
        assert run_cli("decode", "--model", a.snac, "--out", tmp_path / f"{src.suffix[1:]}.wav", src).code == 0


def test_symbols_only_text_is_spoken_with_a_note(a: SimpleNamespace, tmp_path: Path):
    """Emoji alone are odd but not bad: espeak-ng says their names; the CLI says so in a `note:` (exit 0)."""
    r = run_cli(*SPK(a, tmp_path, "\U0001F600\U0001F680"))
    assert r.code == 0 and "note:" in r.err and "has no letters or digits" in r.err and "Traceback" not in r.err
    assert (tmp_path / "s.wav").is_file()
